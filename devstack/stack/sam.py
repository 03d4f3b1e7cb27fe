"""What the SAM transform would make of the template: functions, HTTP routes, authorizers, event sources.

Only the parts the local stack runs are modelled. Event types it cannot run locally are reported as
warnings (the stack still starts); constructs it would run wrongly are errors naming the resource.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.stack.naming import (
    FUNCTION_TYPES,
    HTTP_API_TYPES,
    IMPLICIT_HTTP_API,
    LAYER_TYPES,
    LocalResources,
    function_arn,
)
from devstack.template import (
    ACCOUNT_ID,
    NO_VALUE,
    REGION,
    Resolver,
    Template,
    TemplateError,
    intrinsic,
    references,
)

DEFAULT_TIMEOUT_SECONDS = 3
DEFAULT_MEMORY_MB = 128
DEFAULT_IDENTITY_SOURCE = "$request.header.Authorization"


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    short_name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout_seconds: float
    memory_mb: int
    layer_dirs: tuple[Path, ...]
    # Environment.Variables as written (Globals merged); resolved by ``template_environment`` once the
    # resources exist, because some values (a secret's ARN) are only known then.
    raw_env: dict[str, Any]
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class LambdaAuthorizer:
    name: str
    function: str
    identity_sources: tuple[str, ...]
    ttl_seconds: int
    simple_responses: bool
    payload_version: str


@dataclass(frozen=True)
class HttpApi:
    logical_id: str
    api_id: str
    cors: Cors | None
    authorizers: dict[str, LambdaAuthorizer]
    default_authorizer: str | None


@dataclass(frozen=True)
class Route:
    api: str
    method: str
    path: str
    function: str
    authorizer: str | None
    timeout_seconds: float | None = None

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class QueueSubscription:
    """An SQS event source mapping; ``s3_direct`` marks the internal queue standing in for S3 -> Lambda."""

    function: str
    event_name: str
    queue: str
    queue_url: str
    queue_arn: str
    batch_size: int = 10
    window_seconds: float = 0.0
    report_failures: bool = False
    max_concurrency: int = 2
    s3_direct: bool = False


@dataclass(frozen=True)
class Schedule:
    function: str
    event_name: str
    expression: str
    enabled: bool
    input: Any
    rule_name: str


@dataclass(frozen=True)
class S3Notification:
    """An S3 event of a function: the bucket notifies an internal queue that the pump drains."""

    function: str
    event_name: str
    bucket: str
    events: tuple[str, ...]
    filter_rules: tuple[tuple[str, str], ...]
    queue_name: str


@dataclass(frozen=True)
class StreamSubscription:
    """A DynamoDB stream event source mapping: the table's changes, filtered, in batches, to a function."""

    function: str
    event_name: str
    table: str  # logical id
    stream_arn: str
    batch_size: int = 100
    window_seconds: float = 0.0
    filters: tuple[dict[str, Any], ...] = ()  # FilterCriteria patterns: a record passes if any matches
    max_retries: int = 2


@dataclass(frozen=True)
class WebSocketApi:
    """An API Gateway WebSocket API: its route keys ($connect, $disconnect, $default, ...) -> function."""

    logical_id: str
    api_id: str
    routes: dict[str, str]


@dataclass
class Application:
    template: Template
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    apis: dict[str, HttpApi] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    subscriptions: list[QueueSubscription] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    s3_notifications: list[S3Notification] = field(default_factory=list)
    streams: list[StreamSubscription] = field(default_factory=list)
    websockets: list[WebSocketApi] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def function_for(self, name_or_id: str) -> FunctionSpec:
        """A function by logical id, by its code directory's name, or by function name."""
        if name_or_id in self.functions:
            return self.functions[name_or_id]
        matches = [
            spec
            for spec in self.functions.values()
            if name_or_id in (spec.short_name, spec.code_dir.name, spec.name)
        ]
        if len(matches) == 1:
            return matches[0]
        known = ", ".join(sorted(self.functions))
        raise TemplateError(f"no single function {name_or_id!r} in the template (functions: {known})")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge, lists concatenate (globals first), anything else the resource wins."""
    if local_value is None:
        return global_value
    if intrinsic(global_value) or intrinsic(local_value):
        return local_value
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value.get(key), value)
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def build_application(template: Template, resources: LocalResources) -> Application:
    app = Application(template=template)
    function_ids = [
        logical_id
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in FUNCTION_TYPES and template.is_active(logical_id)
    ]
    properties = {logical_id: _function_properties(template, logical_id) for logical_id in function_ids}
    dir_names = [
        Path(str(props.get("CodeUri") or logical_id)).name for logical_id, props in properties.items()
    ]
    for logical_id in function_ids:
        app.functions[logical_id] = _function_spec(
            template, resources, logical_id, properties[logical_id], dir_names
        )
    arns = {spec.arn: logical_id for logical_id, spec in app.functions.items()}
    _read_apis(app, resources, arns)
    _read_websockets(app, resources, arns)
    for logical_id in function_ids:
        _read_events(app, resources, logical_id, properties[logical_id])
    return app


def _function_properties(template: Template, logical_id: str) -> dict[str, Any]:
    resource = template.resources[logical_id]
    props = dict(resource.get("Properties") or {})
    if resource.get("Type") == "AWS::Serverless::Function":
        props = merge_globals(template.globals.get("Function") or {}, props)
    return props


def _function_spec(
    template: Template,
    resources: LocalResources,
    logical_id: str,
    props: dict[str, Any],
    dir_names: list[str],
) -> FunctionSpec:
    resolver = Resolver(template, resources, where=logical_id)
    if props.get("PackageType") == "Image":
        raise TemplateError(f"{logical_id}: container image functions are not supported locally")
    if "InlineCode" in props:
        raise TemplateError(f"{logical_id}: InlineCode is not supported locally; use CodeUri")
    code_uri = resolver.resolve(props.get("CodeUri") or props.get("Code"))
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
    code_dir = (template.root / code_uri).resolve()
    if not code_dir.is_dir():
        raise TemplateError(f"{logical_id}: CodeUri {code_uri!r} is not a directory ({code_dir})")
    runtime = str(resolver.resolve(props.get("Runtime", "")))
    if not runtime.startswith("python3"):
        raise TemplateError(f"{logical_id}: runtime {runtime!r} is not supported locally (python3.x only)")
    handler = str(resolver.resolve(props.get("Handler", "")))
    if "." not in handler:
        raise TemplateError(f"{logical_id}: Handler {handler!r} must look like module.function")
    variables = ((props.get("Environment") or {}).get("Variables")) or {}
    name = resources.name(logical_id)
    dir_name = code_dir.name
    short_name = dir_name if dir_names.count(dir_name) == 1 else logical_id
    reserved = props.get("ReservedConcurrentExecutions")
    if reserved is not None:
        reserved = resolver.resolve(reserved)  # !If [..., !Ref AWS::NoValue]: unreserved
        reserved = None if reserved is NO_VALUE else reserved
    return FunctionSpec(
        logical_id=logical_id,
        name=name,
        short_name=short_name,
        arn=function_arn(name),
        code_dir=code_dir,
        handler=handler,
        runtime=runtime,
        timeout_seconds=float(resolver.resolve(props.get("Timeout", DEFAULT_TIMEOUT_SECONDS))),
        memory_mb=int(resolver.resolve(props.get("MemorySize", DEFAULT_MEMORY_MB))),
        layer_dirs=_layer_dirs(template, resources, logical_id, resolver.resolve(props.get("Layers") or [])),
        raw_env=dict(variables),
        reserved_concurrency=None if reserved is None else int(reserved),
    )


def template_environment(
    template: Template, resources: LocalResources, spec: FunctionSpec
) -> tuple[dict[str, str], frozenset[str]]:
    """The function's resolved Environment.Variables, and the names among them whose value comes from a
    resource (a table name, a queue URL): the caller's environment does not override those, or the
    function would talk to something the emulator does not have."""
    values: dict[str, str] = {}
    from_resources: set[str] = set()
    for env_name, raw in spec.raw_env.items():
        value = Resolver(template, resources, where=f"{spec.logical_id}.Environment.{env_name}").resolve(raw)
        if value is None or value is NO_VALUE:
            continue
        values[env_name] = _env_string(value)
        if any(target not in template.parameters and "::" not in target for target in references(raw)):
            from_resources.add(env_name)
    return values, frozenset(from_resources)


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def _layer_dirs(
    template: Template, resources: LocalResources, logical_id: str, arns: list[Any]
) -> tuple[Path, ...]:
    by_arn: dict[str, str] = {}
    for layer_id, resource in template.resources.items():
        if resource.get("Type") in LAYER_TYPES and template.is_active(layer_id):
            by_arn[str(resources.ref(layer_id))] = layer_id
    dirs: list[Path] = []
    for arn in arns:
        found = by_arn.get(str(arn))
        if found is None:
            # A published layer (e.g. Powertools); its packages come from the local virtualenv instead.
            continue
        props = template.resources[found].get("Properties") or {}
        content = Resolver(template, resources, where=found).resolve(
            props.get("ContentUri") or props.get("Content")
        )
        if not isinstance(content, str):
            raise TemplateError(f"{found}: ContentUri must be a local directory, got {content!r}")
        root = (template.root / content).resolve()
        if not root.is_dir():
            raise TemplateError(f"{found}: ContentUri {content!r} is not a directory ({root})")
        # Lambda mounts a layer at /opt and puts /opt/python on sys.path; a built Python layer's ContentUri is
        # that python/ folder's content.
        dirs.extend(path for path in (root / "python", root) if path.is_dir())
    return tuple(dirs)


# --- HTTP APIs ----------------------------------------------------------------------------------------


def _read_apis(app: Application, resources: LocalResources, function_arns: Mapping[str, str]) -> None:
    template = app.template
    api_globals = template.globals.get("HttpApi") or {}
    declared = {
        logical_id: merge_globals(api_globals, dict(resource.get("Properties") or {}))
        for logical_id, resource in template.resources.items()
        if resource.get("Type") in HTTP_API_TYPES and template.is_active(logical_id)
    }
    declared.setdefault(IMPLICIT_HTTP_API, dict(api_globals))
    for logical_id, props in declared.items():
        resolver = Resolver(template, resources, where=logical_id)
        auth = resolver.resolve(props.get("Auth") or {})
        authorizers: dict[str, LambdaAuthorizer] = {}
        for name, config in (auth.get("Authorizers") or {}).items():
            authorizers[name] = _authorizer(logical_id, name, config, function_arns)
        default = auth.get("DefaultAuthorizer")
        if default is not None and default not in authorizers:
            raise TemplateError(f"{logical_id}: DefaultAuthorizer {default!r} is not one of its Authorizers")
        if auth.get("EnableIamAuthorizer"):
            app.warnings.append(f"{logical_id}: the AWS_IAM authorizer is not enforced locally")
        app.apis[logical_id] = HttpApi(
            logical_id=logical_id,
            api_id=resources.api_id(logical_id),
            cors=_cors(resolver.resolve(props.get("CorsConfiguration"))),
            authorizers=authorizers,
            default_authorizer=default,
        )


def _read_websockets(app: Application, resources: LocalResources, function_arns: Mapping[str, str]) -> None:
    """WebSocket APIs (``AWS::ApiGatewayV2::Api`` with ``ProtocolType: WEBSOCKET``): each route's Lambda
    proxy integration, followed from the route's ``Target`` to the integration's ``IntegrationUri``."""
    template = app.template
    active = {
        logical_id: resource
        for logical_id, resource in template.resources.items()
        if template.is_active(logical_id)
    }
    for api_id, api in active.items():
        props = api.get("Properties") or {}
        if api.get("Type") != "AWS::ApiGatewayV2::Api" or props.get("ProtocolType") != "WEBSOCKET":
            continue
        routes: dict[str, str] = {}
        for route_id, route in active.items():
            route_props = route.get("Properties") or {}
            if route.get("Type") != "AWS::ApiGatewayV2::Route":
                continue
            if intrinsic(route_props.get("ApiId")) != ("Ref", api_id):
                continue
            target = intrinsic(route_props.get("Target"))
            integration = _integration_of(target, route_id)
            uri = intrinsic(((active.get(integration) or {}).get("Properties") or {}).get("IntegrationUri"))
            function = _function_in_uri(uri, function_arns, f"{integration}.IntegrationUri")
            routes[str(route_props.get("RouteKey"))] = function
        app.websockets.append(WebSocketApi(logical_id=api_id, api_id=resources.api_id(api_id), routes=routes))


def _integration_of(target: Any, where: str) -> str:
    if target and target[0] == "Fn::Sub" and isinstance(target[1], str):
        found = re.fullmatch(r"integrations/\$\{(\w+)\}", target[1])
        if found:
            return found.group(1)
    raise TemplateError(f"{where}: Target must be !Sub integrations/${{<Integration>}}")


def _function_in_uri(uri: Any, function_arns: Mapping[str, str], where: str) -> str:
    text = uri[1] if uri and uri[0] == "Fn::Sub" and isinstance(uri[1], str) else ""
    found = re.search(r"\$\{(\w+)\.Arn\}", text)
    if found is None or found.group(1) not in function_arns.values():
        raise TemplateError(f"{where}: the integration must invoke a function of this template (${{Fn.Arn}})")
    return found.group(1)


def _authorizer(api: str, name: str, config: Any, function_arns: Mapping[str, str]) -> LambdaAuthorizer:
    where = f"{api}.Auth.Authorizers.{name}"
    if not isinstance(config, dict):
        raise TemplateError(f"{where}: must be a mapping")
    if "JwtConfiguration" in config:
        raise TemplateError(f"{where}: JWT authorizers are not supported locally (Lambda authorizers are)")
    arn = config.get("FunctionArn")
    function = function_arns.get(str(arn))
    if function is None:
        raise TemplateError(f"{where}: FunctionArn {arn!r} is not a function of this template")
    identity = config.get("Identity")
    sources: list[str] = []
    ttl = 0
    if isinstance(identity, dict):
        for prefix, key in (
            ("$request.header.", "Headers"),
            ("$request.querystring.", "QueryStrings"),
            ("$stageVariables.", "StageVariables"),
            ("$context.", "Context"),
        ):
            sources.extend(prefix + str(item) for item in identity.get(key) or [])
        ttl = int(identity.get("ReauthorizeEvery", 0) or 0)
    else:
        sources.append(DEFAULT_IDENTITY_SOURCE)
    version = str(config.get("AuthorizerPayloadFormatVersion", "2.0"))
    if version not in ("1.0", "2.0"):
        raise TemplateError(f"{where}: AuthorizerPayloadFormatVersion {version!r} is not 1.0 or 2.0")
    if version != "2.0":
        raise TemplateError(f"{where}: only AuthorizerPayloadFormatVersion 2.0 is supported locally")
    return LambdaAuthorizer(
        name=name,
        function=function,
        identity_sources=tuple(sources),
        ttl_seconds=ttl,
        simple_responses=bool(config.get("EnableSimpleResponses", False)),
        payload_version=version,
    )


def _cors(config: Any) -> Cors | None:
    if config is None or config is False:
        return None
    if config is True:
        return Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    if not isinstance(config, dict):
        raise TemplateError(f"CorsConfiguration must be a boolean or a mapping, got {config!r}")

    def strings(key: str) -> tuple[str, ...]:
        value = config.get(key) or []
        return tuple(str(item) for item in (value if isinstance(value, list) else [value]))

    max_age = config.get("MaxAge")
    return Cors(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(method.upper() for method in strings("AllowMethods")),
        allow_headers=tuple(header.lower() for header in strings("AllowHeaders")),
        expose_headers=strings("ExposeHeaders"),
        max_age=None if max_age is None else int(max_age),
        allow_credentials=bool(config.get("AllowCredentials", False)),
    )


# --- events -------------------------------------------------------------------------------------------

_UNRUN_EVENT_TYPES = (
    "Api",
    "SNS",
    "Kinesis",
    "EventBridgeRule",
    "CloudWatchEvent",
    "CloudWatchLogs",
    "IoTRule",
    "AlexaSkill",
    "Cognito",
    "MSK",
    "MQ",
    "SelfManagedKafka",
    "DocumentDB",
)


def _read_events(app: Application, resources: LocalResources, logical_id: str, props: dict[str, Any]) -> None:
    for event_name, event in (props.get("Events") or {}).items():
        where = f"{logical_id}.Events.{event_name}"
        kind = str(event.get("Type", ""))
        raw = event.get("Properties") or {}
        if kind == "HttpApi":
            _http_event(app, resources, logical_id, where, raw)
        elif kind == "SQS":
            _sqs_event(app, resources, logical_id, event_name, where, raw)
        elif kind in ("Schedule", "ScheduleV2"):
            _schedule_event(app, resources, logical_id, event_name, where, kind, raw)
        elif kind == "S3":
            _s3_event(app, resources, logical_id, event_name, where, raw)
        elif kind == "DynamoDB":
            _stream_event(app, resources, logical_id, event_name, where, raw)
        elif kind in _UNRUN_EVENT_TYPES:
            app.warnings.append(f"{where}: {kind} events are not delivered locally")
        else:
            raise TemplateError(f"{where}: unknown event type {kind!r}")


def _http_event(
    app: Application, resources: LocalResources, function: str, where: str, raw: dict[str, Any]
) -> None:
    api_ref = raw.get("ApiId")
    found = intrinsic(api_ref)
    if api_ref is None:
        api = IMPLICIT_HTTP_API
    elif found and found[0] == "Ref" and isinstance(found[1], str):
        api = found[1]
    else:
        raise TemplateError(f"{where}: ApiId must be !Ref of an AWS::Serverless::HttpApi")
    if api not in app.apis:
        raise TemplateError(f"{where}: ApiId {api!r} is not an AWS::Serverless::HttpApi of this template")
    props = Resolver(app.template, resources, where=where).resolve(raw)
    version = str(props.get("PayloadFormatVersion", "2.0"))
    if version != "2.0":
        raise TemplateError(f"{where}: PayloadFormatVersion {version} is not supported locally (2.0 is)")
    path = str(props.get("Path", "$default"))
    method = str(props.get("Method", "ANY")).upper()
    if path != "$default" and not path.startswith("/"):
        raise TemplateError(f"{where}: Path {path!r} must start with /")
    auth = props.get("Auth") or {}
    authorizer = auth.get("Authorizer", app.apis[api].default_authorizer)
    if authorizer == "NONE":
        authorizer = None
    if authorizer is not None and authorizer not in app.apis[api].authorizers:
        raise TemplateError(f"{where}: Authorizer {authorizer!r} is not one of {api}'s Authorizers")
    timeout_ms = props.get("TimeoutInMillis")
    route = Route(
        api=api,
        method="ANY" if path == "$default" else method,
        path=path,
        function=function,
        authorizer=authorizer,
        timeout_seconds=None if timeout_ms is None else int(timeout_ms) / 1000,
    )
    for other in app.routes:
        if other.api == api and other.route_key == route.route_key:
            raise TemplateError(f"{where}: route {route.route_key!r} is also declared by {other.function}")
    app.routes.append(route)


def _queue_by_arn(app: Application, resources: LocalResources, arn: str, where: str) -> str:
    for logical_id, resource in app.template.resources.items():
        if (
            resource.get("Type") == "AWS::SQS::Queue"
            and app.template.is_active(logical_id)
            and resources.get_att(logical_id, "Arn") == arn
        ):
            return logical_id
    raise TemplateError(f"{where}: Queue {arn!r} is not an AWS::SQS::Queue of this template")


def _sqs_event(
    app: Application,
    resources: LocalResources,
    function: str,
    event_name: str,
    where: str,
    raw: dict[str, Any],
) -> None:
    props = Resolver(app.template, resources, where=where).resolve(raw)
    if str(props.get("Enabled", True)).lower() == "false":
        return
    queue = _queue_by_arn(app, resources, str(props.get("Queue")), where)
    scaling = props.get("ScalingConfig") or {}
    app.subscriptions.append(
        QueueSubscription(
            function=function,
            event_name=event_name,
            queue=queue,
            queue_url=resources.queue_url(queue),
            queue_arn=str(resources.get_att(queue, "Arn")),
            batch_size=int(props.get("BatchSize", 10)),
            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
            max_concurrency=max(1, min(int(scaling.get("MaximumConcurrency", 2)), 4)),
        )
    )


def _stream_event(
    app: Application,
    resources: LocalResources,
    function: str,
    event_name: str,
    where: str,
    raw: dict[str, Any],
) -> None:
    stream = intrinsic(raw.get("Stream"))
    if not stream or stream[0] != "Fn::GetAtt":
        raise TemplateError(f"{where}: Stream must be !GetAtt <Table>.StreamArn")
    target = stream[1] if isinstance(stream[1], list) else str(stream[1]).split(".")
    table = str(target[0])
    props = Resolver(app.template, resources, where=where).resolve(raw)
    if str(props.get("Enabled", True)).lower() == "false":
        return
    filters = []
    for entry in (props.get("FilterCriteria") or {}).get("Filters") or []:
        try:
            filters.append(json.loads(str(entry.get("Pattern"))))
        except ValueError as exc:
            raise TemplateError(f"{where}: a FilterCriteria pattern is not JSON: {exc}") from exc
    app.streams.append(
        StreamSubscription(
            function=function,
            event_name=event_name,
            table=table,
            stream_arn=str(resources.get_att(table, "StreamArn")),
            batch_size=int(props.get("BatchSize", 100)),
            window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            filters=tuple(filters),
            max_retries=int(props.get("MaximumRetryAttempts", 2)),
        )
    )


def _schedule_event(
    app: Application,
    resources: LocalResources,
    function: str,
    event_name: str,
    where: str,
    kind: str,
    raw: dict[str, Any],
) -> None:
    props = Resolver(app.template, resources, where=where).resolve(raw)
    expression = str(props.get("Schedule") or props.get("ScheduleExpression") or "")
    if not re.fullmatch(r"(rate|cron|at)\(.+\)", expression):
        raise TemplateError(
            f"{where}: schedule expression {expression!r} is not rate(...), cron(...) or at(...)"
        )
    enabled = (
        str(props.get("Enabled", True)).lower() != "false"
        and str(props.get("State", "ENABLED")) != "DISABLED"
    )
    raw_input = props.get("Input")
    try:
        payload = json.loads(raw_input) if isinstance(raw_input, str) else raw_input
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{where}: Input is not JSON") from exc
    if kind == "ScheduleV2" and payload is None:
        payload = {}
    rule = str(props.get("Name") or f"{resources.name(function)}-{event_name}")[:64]
    app.schedules.append(
        Schedule(
            function=function,
            event_name=event_name,
            expression=expression,
            enabled=enabled,
            input=payload,
            rule_name=rule,
        )
    )


def _s3_event(
    app: Application,
    resources: LocalResources,
    function: str,
    event_name: str,
    where: str,
    raw: dict[str, Any],
) -> None:
    found = intrinsic(raw.get("Bucket"))
    if not (found and found[0] == "Ref" and found[1] in app.template.resources):
        raise TemplateError(
            f"{where}: Bucket must be !Ref of an AWS::S3::Bucket of this template (as SAM requires)"
        )
    props = Resolver(app.template, resources, where=where).resolve(raw)
    events = props.get("Events") or []
    rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    queue_name = f"imagegen-local-s3-{function}-{event_name}"[:80]
    app.s3_notifications.append(
        S3Notification(
            function=function,
            event_name=event_name,
            bucket=str(found[1]),
            events=tuple(events if isinstance(events, list) else [events]),
            filter_rules=tuple((str(rule["Name"]).lower(), str(rule["Value"])) for rule in rules),
            queue_name=queue_name,
        )
    )
    app.subscriptions.append(
        QueueSubscription(
            function=function,
            event_name=event_name,
            queue=queue_name,
            queue_url=f"{resources.endpoint_url}/{ACCOUNT_ID}/{queue_name}",
            queue_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue_name}",
            batch_size=1,
            max_concurrency=2,
            s3_direct=True,
        )
    )
