"""The template is the single source of truth: settings, routes and handlers must agree with it."""

from __future__ import annotations

import functools
import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from devstack.template import load_template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "imagegen"
# Read by libraries (Powertools) or the runtime, not by our code.
LIBRARY_VARS = {
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
    "POWERTOOLS_SERVICE_NAME",
}
# Plain-environment fallbacks for running without Secrets Manager (local stack, tests) only.
LOCAL_ONLY_VARS = {
    "GOOGLE_CLIENT_SECRET",
    "SESSION_SIGNING_KEY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
}
ROUTER_OF_FUNCTION = {
    "auth": "public",
    "users": "users",
    "images": "images",
    "admin": "admin",
    "exports": "exports",
    "shop": "shop",
    "stripe_webhook": "webhooks",
}
# Route modules a function serves besides its own: module -> (the function's router module, its tag).
EXTRA_ROUTERS = {"collections": ("images", "collections")}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    # The project's one template reader: short tags become their long forms ({"Ref": ...}, {"Fn::Sub": ...}).
    return load_template(ROOT / "template.yaml")


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"]
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def _template_vars(template: dict[str, Any]) -> set[str]:
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for props in _functions(template).values():
        names |= set(props.get("Environment", {}).get("Variables", {}))
    return names


def _code_vars() -> set[str]:
    pattern = re.compile(
        r"""(?:_str|_int|_csv|os\.environ\.get|os\.getenv|os\.environ\[)\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    found: set[str] = set()
    # The layer only: the local stack's own switches (devstack/) are never deployed.
    for path in PACKAGE.rglob("*.py"):
        found |= set(pattern.findall(path.read_text()))
    return {n for n in found if not n.startswith(("AWS_", "_"))}


def test_every_setting_the_code_reads_is_set_by_the_template(template: dict[str, Any]) -> None:
    missing = _code_vars() - _template_vars(template) - LOCAL_ONLY_VARS
    assert not missing, f"read by the code but never set by template.yaml: {sorted(missing)}"


def test_every_variable_the_template_sets_is_read_by_the_code(template: dict[str, Any]) -> None:
    unused = _template_vars(template) - _code_vars() - LIBRARY_VARS
    assert not unused, f"set by template.yaml but read by nothing: {sorted(unused)}"


def test_every_function_has_a_handler(template: dict[str, Any]) -> None:
    for name, props in _functions(template).items():
        app = ROOT / props["CodeUri"] / "app.py"
        assert app.is_file(), f"{name}: {app} is missing"
        assert re.search(r"^lambda_handler\b|^def lambda_handler\(", app.read_text(), re.M), name


def test_http_routes_match_the_code(template: dict[str, Any]) -> None:
    from imagegen.http.api import ROUTES

    declared: set[tuple[str, str, str]] = set()
    for props in _functions(template).values():
        directory = Path(props["CodeUri"]).name
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                declared.add((directory, event["Properties"]["Method"].upper(), event["Properties"]["Path"]))
    served: set[tuple[str, str, str]] = set()
    for module in [*ROUTER_OF_FUNCTION.values(), *EXTRA_ROUTERS]:
        importlib.import_module(f"imagegen.http.routes.{module}")
    importlib.import_module("imagegen.http.routes.generation")  # tag "images": the images function's too
    for spec in ROUTES:
        owner = next(d for d, m in ROUTER_OF_FUNCTION.items() if spec.tag in _tags_of(m))
        served.add((owner, spec.method, spec.path))
    assert declared == served, f"template only: {declared - served}; code only: {served - declared}"


def _tags_of(module: str) -> set[str]:
    tags = {
        "public": {"public", "auth"},
        "users": {"me"},
        "images": {"images"},
        "admin": {"admin"},
        "exports": {"exports"},
        "shop": {"shop"},
        "webhooks": {"payments"},
    }[module]
    return tags | {tag for extra, (owner, tag) in EXTRA_ROUTERS.items() if owner == module}


def test_no_local_routes_in_the_template(template: dict[str, Any]) -> None:
    assert "/_local" not in (ROOT / "template.yaml").read_text()


def test_bucket_notification_covers_only_the_originals_prefix(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ImagesBucket"]["Properties"]
    (config,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    (rule,) = config["Filter"]["S3Key"]["Rules"]
    assert rule["Name"] == "prefix"
    assert rule["Value"] == {"Fn::Sub": "${BucketPrefix}/"}
    params = template["Parameters"]
    assert params["BucketPrefix"]["Default"] != params["ThumbnailPrefix"]["Default"]


def test_export_zips_are_outside_the_notification_prefix_and_expire(template: dict[str, Any]) -> None:
    """The upload notification fires on ``{BucketPrefix}/`` only, never on exports/; a lifecycle rule
    expires exports/ after ceil(ExportTtlHours / 24) days for every allowed value."""
    params = template["Parameters"]
    assert not "exports/".startswith(params["BucketPrefix"]["Default"] + "/")
    assert re.fullmatch(params["BucketPrefix"]["AllowedPattern"], "exports")  # documented: do not pick it
    rules = template["Resources"]["ImagesBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Prefix") == "exports/"]
    assert rule["ExpirationInDays"] == {
        "Fn::FindInMap": ["ExportLifecycleDays", {"Ref": "ExportTtlHours"}, "Days"]
    }
    days = template["Mappings"]["ExportLifecycleDays"]
    allowed = params["ExportTtlHours"]["AllowedValues"]
    assert {str(h) for h in allowed} == set(days)
    for hours in allowed:
        assert days[str(hours)]["Days"] == -(-hours // 24)


def test_every_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    consumed = {
        e["Properties"]["Queue"]["Fn::GetAtt"][0]
        for props in _functions(template).values()
        for e in props.get("Events", {}).values()
        if e["Type"] == "SQS"
    }
    for name in consumed:
        if name.endswith("DLQ"):
            continue
        redrive = resources[name]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] >= 2
        dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert resources[dlq]["Type"] == "AWS::SQS::Queue"


# ---- operations: alarms, log groups, failure destinations, least-privilege S3 ------------------------

ASYNC_EVENT_TYPES = {"Schedule", "ScheduleV2", "S3", "SNS", "EventBridgeRule", "CloudWatchEvent"}
# What each function's code does with the bucket (layers/shared/imagegen/services, storage.py), per
# prefix parameter. ListBucket only where the code lists, or HEADs an original that may be missing
# (without ListBucket S3 answers 403 instead of 404).
S3_ACCESS: dict[str, set[tuple[str, str]]] = {
    "AuthFunction": set(),
    "AdminFunction": set(),
    "LiveFunction": set(),  # the socket's routes: the table only
    "NotifierFunction": {("s3:GetObject", "exports")},  # the sockets, the CDN, export.updated's signed URL
    "UsersFunction": {  # DELETE /me: delete_prefix on both prefixes and the user's exports
        ("s3:DeleteObject", "BucketPrefix"),
        ("s3:DeleteObject", "ThumbnailPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
        ("s3:ListBucket", "ThumbnailPrefix"),
        ("s3:DeleteObject", "exports"),
        ("s3:ListBucket", "exports"),
    },
    "ImagesFunction": {  # signed GET, presigned POST (signed by this role), DELETE /images/{id}
        ("s3:GetObject", "BucketPrefix"),
        ("s3:PutObject", "BucketPrefix"),
        ("s3:DeleteObject", "BucketPrefix"),
        ("s3:DeleteObject", "ThumbnailPrefix"),
        ("s3:ListBucket", "ThumbnailPrefix"),  # an image's rendition prefix
    },
    "GeneratorFunction": {  # head, put of the original
        ("s3:GetObject", "BucketPrefix"),
        ("s3:PutObject", "BucketPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
    },
    "ShopFunction": set(),
    "StripeWebhookFunction": set(),
    "ThumbnailerFunction": {  # head and get the original, put renditions, delete rejects and orphans
        ("s3:GetObject", "BucketPrefix"),
        ("s3:PutObject", "ThumbnailPrefix"),
        ("s3:DeleteObject", "BucketPrefix"),
        ("s3:DeleteObject", "ThumbnailPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
        ("s3:ListBucket", "ThumbnailPrefix"),  # a rejected image's rendition prefix
    },
    "CoinLedgerFunction": {  # failed images' objects, purge_user, dead-lettered exports
        ("s3:DeleteObject", "BucketPrefix"),
        ("s3:DeleteObject", "ThumbnailPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
        ("s3:ListBucket", "ThumbnailPrefix"),
        ("s3:DeleteObject", "exports"),
        ("s3:AbortMultipartUpload", "exports"),
        ("s3:ListBucket", "exports"),
    },
    # stuck images' objects, orphaned originals and old renditions, stuck and expired exports
    "SweeperFunction": {
        ("s3:DeleteObject", "BucketPrefix"),
        ("s3:DeleteObject", "ThumbnailPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
        ("s3:ListBucket", "ThumbnailPrefix"),
        ("s3:DeleteObject", "exports"),
        ("s3:AbortMultipartUpload", "exports"),
        ("s3:ListBucket", "exports"),
    },
    "ExportsFunction": {("s3:GetObject", "exports")},  # the ZIP's signed download URL
    "ExporterFunction": {  # read originals, write ZIPs by multipart upload, abort and delete them
        ("s3:GetObject", "BucketPrefix"),
        ("s3:ListBucket", "BucketPrefix"),
        ("s3:PutObject", "exports"),
        ("s3:AbortMultipartUpload", "exports"),
        ("s3:DeleteObject", "exports"),
    },
}


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == kind}


def _getatt(value: Any, attribute: str) -> str | None:
    """The resource of ``!GetAtt X.<attribute>``, else None."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list):
        resource, att = value["Fn::GetAtt"]
        return str(resource) if att == attribute else None
    return None


def _dead_letter_queues(template: dict[str, Any]) -> set[str]:
    """Every redrive target, and every queue a function's failed asynchronous invocations go to."""
    found = {
        _getatt(props["RedrivePolicy"]["deadLetterTargetArn"], "Arn")
        for props in _of_type(template, "AWS::SQS::Queue").values()
        if "RedrivePolicy" in props
    }
    for props in _functions(template).values():
        on_failure = props.get("EventInvokeConfig", {}).get("DestinationConfig", {}).get("OnFailure", {})
        if on_failure.get("Type") == "SQS":
            found.add(_getatt(on_failure["Destination"], "Arn"))
    assert None not in found, "a dead-letter target that is not !GetAtt <Queue>.Arn"
    return {name for name in found if name is not None}


def _alarms_on(template: dict[str, Any], namespace: str, metric: str) -> list[dict[str, Any]]:
    return [
        props
        for props in _of_type(template, "AWS::CloudWatch::Alarm").values()
        if props["Namespace"] == namespace and props["MetricName"] == metric
    ]


def _fires_above_zero(alarm: dict[str, Any]) -> bool:
    return (alarm["ComparisonOperator"], float(alarm["Threshold"])) in {
        ("GreaterThanThreshold", 0.0),
        ("GreaterThanOrEqualToThreshold", 1.0),
    }


def test_every_dead_letter_queue_has_a_depth_alarm(template: dict[str, Any]) -> None:
    dlqs = _dead_letter_queues(template)
    assert {"GenerationDLQ", "ThumbnailDLQ", "LedgerDLQ", "SweeperFailuresQueue"} <= dlqs
    watched = {
        _getatt(dimension["Value"], "QueueName")
        for alarm in _alarms_on(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible")
        if _fires_above_zero(alarm)
        for dimension in alarm["Dimensions"]
        if dimension["Name"] == "QueueName"
    }
    assert dlqs <= watched, f"dead-letter queues without a depth alarm: {sorted(dlqs - watched)}"


def test_every_work_queue_has_an_oldest_message_age_alarm(template: dict[str, Any]) -> None:
    consumed = {
        _getatt(event["Properties"]["Queue"], "Arn")
        for props in _functions(template).values()
        for event in props.get("Events", {}).values()
        if event["Type"] == "SQS"
    }
    work = consumed - _dead_letter_queues(template)
    assert work == {"GenerationQueue", "ThumbnailQueue", "LedgerQueue", "ExportQueue"}
    watched = {
        _getatt(dimension["Value"], "QueueName")
        for alarm in _alarms_on(template, "AWS/SQS", "ApproximateAgeOfOldestMessage")
        for dimension in alarm["Dimensions"]
    }
    assert work <= watched, f"work queues without an age alarm: {sorted(work - watched)}"


def test_every_function_has_errors_and_throttles_alarms(template: dict[str, Any]) -> None:
    for metric in ("Errors", "Throttles"):
        watched = {
            dimension["Value"].get("Ref")
            for alarm in _alarms_on(template, "AWS/Lambda", metric)
            if _fires_above_zero(alarm)
            for dimension in alarm["Dimensions"]
            if dimension["Name"] == "FunctionName"
        }
        missing = set(_functions(template)) - watched
        assert not missing, f"functions without a {metric} alarm: {sorted(missing)}"


def test_the_http_api_has_a_5xx_alarm(template: dict[str, Any]) -> None:
    (alarm,) = _alarms_on(template, "AWS/ApiGateway", "5xx")  # an HTTP API's metric (REST: 5XXError)
    assert alarm["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]
    assert alarm["Statistic"] == "Sum"


class _Placeholders:
    """Resource references for resolving parts of the template outside a stack."""

    def ref(self, logical_id: str) -> Any:
        return f"<{logical_id}>"

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"<{logical_id}.{attribute}>"


@functools.cache
def _opened(topic: str) -> Any:
    from devstack.template import open_template

    return open_template(ROOT / "template.yaml", {"AlarmTopicArn": topic} if topic else {})


def _resolve(logical_id: str, *, topic: str = "") -> Any:
    """A resource's Properties as CloudFormation would see them, with parameters at their defaults."""
    from devstack.template import Resolver

    opened = _opened(topic)
    props = opened.resources[logical_id].get("Properties") or {}
    return Resolver(opened, _Placeholders(), where=logical_id).resolve(props)


def test_alarms_notify_the_topic_when_it_is_set_and_nothing_otherwise(template: dict[str, Any]) -> None:
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""
    alarms = _of_type(template, "AWS::CloudWatch::Alarm")
    assert alarms
    topic = "arn:aws:sns:us-east-1:123456789012:imagegen-alarms"
    for name in alarms:
        with_topic = _resolve(name, topic=topic)
        assert with_topic.get("AlarmActions") == [topic], name
        assert with_topic.get("OKActions") == [topic], name
        without = _resolve(name)
        assert "AlarmActions" not in without and "OKActions" not in without, name


def test_every_function_logs_to_a_declared_group_with_retention(template: dict[str, Any]) -> None:
    assert "Default" in template["Parameters"]["LogRetentionDays"]
    groups = _of_type(template, "AWS::Logs::LogGroup")
    for name, props in _functions(template).items():
        group = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert group in groups, f"{name}: LoggingConfig.LogGroup is not !Ref of a declared log group"
        assert groups[group].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, group
        function_name = _resolve(name).get("FunctionName")
        assert function_name, f"{name}: no explicit FunctionName"
        assert _resolve(group)["LogGroupName"] == f"/aws/lambda/{function_name}", group
    assert groups["ApiAccessLogs"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}


def test_asynchronously_invoked_functions_have_an_on_failure_destination(template: dict[str, Any]) -> None:
    invoked_async = {
        name
        for name, props in _functions(template).items()
        if any(event["Type"] in ASYNC_EVENT_TYPES for event in props.get("Events", {}).values())
    }
    assert "SweeperFunction" in invoked_async
    queues = _of_type(template, "AWS::SQS::Queue")
    for name in invoked_async:
        config = _functions(template)[name].get("EventInvokeConfig", {})
        assert "MaximumRetryAttempts" in config, name
        on_failure = config.get("DestinationConfig", {}).get("OnFailure", {})
        assert on_failure.get("Type") == "SQS", name
        assert _getatt(on_failure.get("Destination"), "Arn") in queues, name


def _statements(statements: list[Any]) -> list[dict[str, Any]]:
    """Policy statements, with both branches of a conditional one (``Fn::If``; ``AWS::NoValue`` dropped)."""
    found: list[dict[str, Any]] = []
    for statement in statements:
        if isinstance(statement, dict) and "Fn::If" in statement:
            found += [
                branch
                for branch in statement["Fn::If"][1:]
                if isinstance(branch, dict) and "Effect" in branch
            ]
        else:
            found.append(statement)
    return found


_EXPORTS = re.compile(r"(^|\$\{ImagesBucket\}/)exports/\*$")


def _s3_grants(props: dict[str, Any]) -> set[tuple[str, str]]:
    """(action, prefix parameter) pairs a function's inline statements allow on the bucket."""
    grants: set[tuple[str, str]] = set()
    for policy in props.get("Policies", []):
        if not isinstance(policy, dict) or "Statement" not in policy:
            continue
        for statement in _statements(policy["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            texts = [r["Fn::Sub"] if isinstance(r, dict) else str(r) for r in resources]
            prefixes = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])
            for action in actions:
                if not action.startswith("s3"):
                    continue
                assert "*" not in action, f"wildcard S3 action {action}"
                if action == "s3:ListBucket":
                    assert prefixes, "s3:ListBucket without an s3:prefix condition"
                    found = [p["Fn::Sub"] if isinstance(p, dict) else str(p) for p in prefixes]
                else:
                    assert all(
                        text.endswith("/*") and ("${ImagesBucket}/${" in text or _EXPORTS.search(text))
                        for text in texts
                    ), texts
                    found = texts
                for text in found:
                    if _EXPORTS.search(text):  # export ZIPs: the fixed exports/ prefix
                        grants.add((action, "exports"))
                        continue
                    (prefix,) = re.findall(r"\$\{(BucketPrefix|ThumbnailPrefix)\}", text)
                    grants.add((action, prefix))
    return grants


def test_only_the_thumbnailer_writes_the_thumbnails_prefix(template: dict[str, Any]) -> None:
    writers = {
        name
        for name, props in _functions(template).items()
        if ("s3:PutObject", "ThumbnailPrefix") in _s3_grants(props)
    }
    assert writers == {"ThumbnailerFunction"}


def test_each_function_has_the_s3_access_its_code_uses(template: dict[str, Any]) -> None:
    granted = {name: _s3_grants(props) for name, props in _functions(template).items()}
    assert granted == S3_ACCESS


# ---- capacity: concurrency, throttles, backpressure (docs/performance.md, section 4) --------------
HTTP_FUNCTIONS = {
    "AuthFunction": "AuthReservedConcurrency",
    "UsersFunction": "UsersReservedConcurrency",
    "ImagesFunction": "ImagesReservedConcurrency",
    "AdminFunction": "AdminReservedConcurrency",
}


def _http_routes(template: dict[str, Any]) -> set[str]:
    routes = set()
    for props in _functions(template).values():
        for event in props.get("Events", {}).values():
            if event["Type"] == "HttpApi":
                routes.add(f"{event['Properties']['Method']} {event['Properties']['Path']}")
    return routes


def test_the_generators_concurrency_is_capped_by_a_parameter(template: dict[str, Any]) -> None:
    events = _functions(template)["GeneratorFunction"]["Events"]
    [source] = [e for e in events.values() if e["Type"] == "SQS"]
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["GenerationQueue", "Arn"]}
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "GeneratorMaxConcurrency"}
    # A batch's generations run in parallel in one execution (functions/generator/app.py).
    assert source["Properties"]["BatchSize"] == {"Ref": "GeneratorBatchSize"}
    batch = template["Parameters"]["GeneratorBatchSize"]
    assert (batch["Default"], batch["MinValue"], batch["MaxValue"]) == (1, 1, 10)
    param = template["Parameters"]["GeneratorMaxConcurrency"]
    # Lambda accepts 2..1000; the default fits a fresh account's pool of 10 with nothing reserved.
    assert (param["MinValue"], param["MaxValue"]) == (2, 1000)
    assert 2 <= param["Default"] <= 10


def test_http_functions_reserve_concurrency_only_when_asked(template: dict[str, Any]) -> None:
    functions = _functions(template)
    for name, param in HTTP_FUNCTIONS.items():
        reserved = functions[name]["ReservedConcurrentExecutions"]
        condition, value, otherwise = reserved["Fn::If"]
        assert value == {"Ref": param} and otherwise == {"Ref": "AWS::NoValue"}, name
        assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": param}, "0"]}]}
        # 0 (the default) leaves the function unreserved: a default deploy needs no concurrency quota.
        assert template["Parameters"][param]["Default"] == 0
        assert template["Parameters"][param]["MinValue"] == 0
    others = set(functions) - set(HTTP_FUNCTIONS)
    assert not [name for name in others if "ReservedConcurrentExecutions" in functions[name]]


def test_api_throttles_come_from_parameters_per_route(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    params = template["Parameters"]
    default = api["DefaultRouteSettings"]
    assert default == {
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRateLimit"},
    }
    routes = _http_routes(template)
    assert {"GET /images/{id}", "POST /images/generate"} <= set(api["RouteSettings"])
    for route, settings in api["RouteSettings"].items():
        assert route in routes, f"RouteSettings names a route the API does not have: {route}"
        assert set(settings) == {"ThrottlingBurstLimit", "ThrottlingRateLimit"}
        for limit in settings.values():
            assert limit["Ref"] in params
        rate, burst = (
            params[settings[k]["Ref"]]["Default"] for k in ("ThrottlingRateLimit", "ThrottlingBurstLimit")
        )
        assert burst >= rate, route


def test_the_generator_can_requeue_a_throttled_generation(template: dict[str, Any]) -> None:
    generator = _functions(template)["GeneratorFunction"]
    policies = generator["Policies"]
    sends = [
        p["SQSSendMessagePolicy"] for p in policies if isinstance(p, dict) and "SQSSendMessagePolicy" in p
    ]
    assert sends == [{"QueueName": {"Fn::GetAtt": ["GenerationQueue", "QueueName"]}}]
    variables = generator["Environment"]["Variables"]
    assert variables["PROVIDER_THROTTLE_MAX_WAIT_SECONDS"] == {"Ref": "ProviderThrottleMaxWaitSeconds"}
    params = template["Parameters"]
    # A throttled generation must give up (and refund) before the sweeper calls it stuck.
    assert params["ProviderThrottleMaxWaitSeconds"]["Default"] < params["StuckImageMinutes"]["Default"] * 60
