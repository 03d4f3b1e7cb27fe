"""The template is the single source of truth: settings, routes and handlers must agree with it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

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
LOCAL_ONLY_VARS = {"GOOGLE_CLIENT_SECRET", "SESSION_SIGNING_KEY"}
ROUTER_OF_FUNCTION = {"auth": "public", "users": "users", "images": "images", "admin": "admin"}


class _Loader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {f"!{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    return loaded


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
    for module in ROUTER_OF_FUNCTION.values():
        importlib.import_module(f"imagegen.http.routes.{module}")
    for spec in ROUTES:
        owner = next(d for d, m in ROUTER_OF_FUNCTION.items() if spec.tag in _tags_of(m))
        served.add((owner, spec.method, spec.path))
    assert declared == served, f"template only: {declared - served}; code only: {served - declared}"


def _tags_of(module: str) -> set[str]:
    return {"public": {"public", "auth"}, "users": {"me"}, "images": {"images"}, "admin": {"admin"}}[module]


def test_no_local_routes_in_the_template(template: dict[str, Any]) -> None:
    assert "/_local" not in (ROOT / "template.yaml").read_text()


def test_bucket_notification_covers_only_the_originals_prefix(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ImagesBucket"]["Properties"]
    (config,) = bucket["NotificationConfiguration"]["QueueConfigurations"]
    (rule,) = config["Filter"]["S3Key"]["Rules"]
    assert rule["Name"] == "prefix"
    assert rule["Value"] == {"!Sub": "${BucketPrefix}/"}
    params = template["Parameters"]
    assert params["BucketPrefix"]["Default"] != params["ThumbnailPrefix"]["Default"]


def test_every_queue_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    consumed = {
        e["Properties"]["Queue"]["!GetAtt"].split(".")[0]
        for props in _functions(template).values()
        for e in props.get("Events", {}).values()
        if e["Type"] == "SQS"
    }
    for name in consumed:
        if name.endswith("DLQ"):
            continue
        redrive = resources[name]["Properties"]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] >= 2
        dlq = redrive["deadLetterTargetArn"]["!GetAtt"].split(".")[0]
        assert resources[dlq]["Type"] == "AWS::SQS::Queue"
