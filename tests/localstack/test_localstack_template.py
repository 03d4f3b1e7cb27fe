"""Template reading and API Gateway rules of the local stack, without a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devstack.stack.apigw import (
    AuthorizerResponseError,
    FunctionResponseError,
    HttpRequest,
    Router,
    authorizer_verdict,
    function_response,
    identity_values,
    match_path,
)
from devstack.stack.naming import LocalResources
from devstack.stack.pump import next_cron, rate_seconds
from devstack.stack.sam import Route, build_application, merge_globals, template_environment
from devstack.template import NO_VALUE, Resolver, TemplateError, open_template

TEMPLATE = """
Parameters:
  Stage: {Type: String, Default: dev}
  Cost: {Type: Number, Default: 50}
  Names: {Type: CommaDelimitedList, Default: "a,b"}
  Required: {Type: String}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
Mappings:
  Limits: {dev: {Size: 10}}
Globals:
  Function:
    Runtime: python3.12
    Handler: app.lambda_handler
    Timeout: 7
    Layers: [!Ref Layer]
    Environment:
      Variables:
        COST: !Ref Cost
        TABLE: !Ref Table
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-${Stage}"
  Queue:
    Type: AWS::SQS::Queue
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Layer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layer/}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Timeout: 9
      Environment:
        Variables:
          QUEUE: !Ref Queue
          ARN: !GetAtt Queue.Arn
          SIZE: !FindInMap [Limits, !Ref Stage, Size]
          MAYBE: !If [IsProd, yes, !Ref AWS::NoValue]
          LITERAL: !Sub "${!NotAVariable}-${Stage}"
          FIRST: !Select [1, !Ref Names]
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: "/things/{id}", Method: get}
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 3
            FunctionResponseTypes: [ReportBatchItemFailures]
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(5 minutes)}
"""


@pytest.fixture
def template_path(tmp_path: Path) -> Path:
    (tmp_path / "fn").mkdir()
    (tmp_path / "layer").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return path


def test_parameters_conditions_and_intrinsics(template_path: Path) -> None:
    template = open_template(template_path, {"Required": "x", "COST": "7"})
    assert template.parameters["Cost"] == "7"  # the variable the parameter feeds wins over the Default
    assert template.parameters["Names"] == ["a", "b"]
    assert template.condition("NotProd") is True
    assert not template.is_active("ProdOnly")
    resources = LocalResources(template, endpoint_url="http://127.0.0.1:1", gateway_url="http://127.0.0.1:2")
    app = build_application(template, resources)
    spec = app.functions["Fn"]
    assert spec.timeout_seconds == 9
    assert spec.layer_dirs == (template_path.parent / "layer",)
    env, from_resources = template_environment(template, resources, spec)
    assert env == {
        "COST": "7",
        "TABLE": "imagegen-local-dev",
        "QUEUE": "http://127.0.0.1:1/123456789012/imagegen-local-Queue",
        "ARN": "arn:aws:sqs:us-east-1:123456789012:imagegen-local-Queue",
        "SIZE": "10",
        "LITERAL": "${NotAVariable}-dev",
        "FIRST": "b",
    }
    assert from_resources == {"TABLE", "QUEUE", "ARN"}
    assert [route.route_key for route in app.routes] == ["GET /things/{id}"]
    assert app.subscriptions[0].batch_size == 3 and app.subscriptions[0].report_failures
    assert app.schedules[0].expression == "rate(5 minutes)"


def test_parameter_by_its_own_name_and_missing_default(template_path: Path) -> None:
    assert open_template(template_path, {"Required": "x", "Stage": "prod"}).condition("IsProd")
    with pytest.raises(TemplateError, match="Required"):
        open_template(template_path, {})


def test_unknown_reference_names_the_resource(template_path: Path) -> None:
    template = open_template(template_path, {"Required": "x"})
    resources = LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
    with pytest.raises(TemplateError, match=r"Somewhere.*Nope"):
        Resolver(template, resources, where="Somewhere").resolve({"Ref": "Nope"})
    with pytest.raises(TemplateError, match=r"Somewhere.*ImportValue"):
        Resolver(template, resources, where="Somewhere").resolve({"Fn::ImportValue": "x"})
    with pytest.raises(TemplateError, match=r"Queue.*Nope"):
        Resolver(template, resources, where="Somewhere").resolve({"Fn::GetAtt": ["Queue", "Nope"]})
    assert Resolver(template, resources, where="x").resolve({"Ref": "AWS::NoValue"}) is NO_VALUE


def test_globals_merge_like_sam() -> None:
    merged = merge_globals(
        {"Timeout": 3, "Layers": ["a"], "Environment": {"Variables": {"A": "1", "B": "2"}}},
        {"Timeout": 9, "Layers": ["b"], "Environment": {"Variables": {"B": "3"}}},
    )
    assert merged == {"Timeout": 9, "Layers": ["a", "b"], "Environment": {"Variables": {"A": "1", "B": "3"}}}


def route(method: str, path: str) -> Route:
    return Route(api="Api", method=method, path=path, function=f"{method} {path}", authorizer=None)


def test_route_precedence() -> None:
    router = Router(
        [
            route("ANY", "$default"),
            route("GET", "/images/{id}"),
            route("GET", "/images/stats"),
            route("ANY", "/images/{id}"),
            route("GET", "/admin/{proxy+}"),
            route("ANY", "/admin/users"),
        ]
    )

    def chosen(method: str, path: str) -> str | None:
        found = router.match(method, path)
        return None if found is None else found.route.function

    assert chosen("GET", "/images/stats") == "GET /images/stats"
    assert chosen("GET", "/images/42") == "GET /images/{id}"
    assert chosen("DELETE", "/images/42") == "ANY /images/{id}"
    assert chosen("GET", "/admin/users") == "GET /admin/{proxy+}"  # a method route beats ANY
    assert chosen("POST", "/admin/users") == "ANY /admin/users"
    assert chosen("GET", "/elsewhere") == "ANY $default"


def test_path_matching() -> None:
    assert match_path("/images/{id}", "/images/a%2Fb") == {"id": "a/b"}
    assert match_path("/images/{id}", "/images/") is None
    assert match_path("/images/{id}", "/images/1/2") is None
    assert match_path("/admin/{proxy+}", "/admin") is None
    assert match_path("/admin/{proxy+}", "/admin/a/b") == {"proxy": "a/b"}
    assert match_path("/", "/") == {}


def test_function_response_rules() -> None:
    assert function_response({"hello": "world"}).body == b'{"hello": "world"}'
    assert function_response("text").body == b'"text"'
    response = function_response({"statusCode": 204, "headers": {"X-A": 1}, "cookies": ["a=1"]})
    assert (
        response.status == 204
        and ("X-A", "1") in response.headers
        and ("Set-Cookie", "a=1") in response.headers
    )
    with pytest.raises(FunctionResponseError):
        function_response({"statusCode": 200, "body": {"not": "a string"}})
    with pytest.raises(FunctionResponseError):
        function_response({"statusCode": 200, "body": "%%%", "isBase64Encoded": True})


ARN = "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/images/1"


@pytest.mark.parametrize(
    ("result", "allowed"),
    [
        ({"isAuthorized": True, "context": {"u": "1"}}, True),
        ({"isAuthorized": False}, False),
    ],
)
def test_simple_authorizer_responses(result: dict[str, Any], allowed: bool) -> None:
    assert authorizer_verdict(result, simple=True, arn=ARN)[0] is allowed


def test_policy_authorizer_responses() -> None:
    def policy(effect: str, resource: str) -> dict[str, Any]:
        statement = {"Effect": effect, "Action": "execute-api:Invoke", "Resource": [resource]}
        return {"principalId": "u1", "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}

    assert authorizer_verdict(policy("Allow", "arn:aws:execute-api:*:*:api/*"), simple=False, arn=ARN)[0]
    assert not authorizer_verdict(
        policy("Allow", "arn:aws:execute-api:*:*:api/*/POST/*"), simple=False, arn=ARN
    )[0]
    assert not authorizer_verdict(policy("Deny", "*"), simple=False, arn=ARN)[0]
    with pytest.raises(AuthorizerResponseError):
        authorizer_verdict({"isAuthorized": "yes"}, simple=True, arn=ARN)


def test_identity_sources() -> None:
    request = HttpRequest("GET", "/x", "token=abc", [("Authorization", "Bearer t")])
    assert identity_values(request, ["$request.header.Authorization", "$request.querystring.token"]) == [
        "Bearer t",
        "abc",
    ]
    assert identity_values(request, ["$request.header.X-Missing"]) is None


def test_schedule_expressions() -> None:
    from datetime import UTC, datetime

    assert rate_seconds("rate(1 minute)") == 60
    assert rate_seconds("rate(10 minutes)") == 600
    assert rate_seconds("cron(0 12 * * ? *)") is None
    after = datetime(2024, 1, 1, 10, 30, tzinfo=UTC)
    assert next_cron("cron(0 12 * * ? *)", after) == datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert next_cron("cron(15 10 ? * MON-FRI *)", after) == datetime(2024, 1, 2, 10, 15, tzinfo=UTC)
    assert next_cron("cron(0 10 L * ? *)", after) is None


CACHED_AUTHORIZER = """
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Cached
        Authorizers:
          Cached:
            FunctionArn: !GetAtt Authorizer.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization], ReauthorizeEvery: 300}
  Authorizer:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: fn/, Runtime: python3.12, Handler: app.handler}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Runtime: python3.12
      Handler: app.handler
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /x, Method: GET}
"""


def test_authorizer_results_are_cached_for_reauthorize_every(tmp_path: Path) -> None:
    from devstack.stack.console import Console
    from devstack.stack.gateway import Gateway
    from devstack.stack.google import GoogleStandIn
    from devstack.stack.runtime import InvocationResult

    (tmp_path / "fn").mkdir()
    (tmp_path / "template.yaml").write_text(CACHED_AUTHORIZER)
    template = open_template(tmp_path / "template.yaml", {})
    app = build_application(
        template, LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
    )
    calls: list[str] = []

    def invoke(
        function: str, event: Any, *, timeout: float | None = None, wait: float | None = None
    ) -> InvocationResult:
        calls.append(function)
        if function == "Authorizer":
            return InvocationResult("ok", result={"isAuthorized": event["identitySource"] == ["Bearer good"]})
        return InvocationResult("ok", result={"statusCode": 200, "body": "ok"})

    gateway = Gateway(
        app=app,
        invoke=invoke,
        console=Console(),
        google=GoogleStandIn(),
        static=None,
        local_routes=lambda request: None,
    )

    def status(token: str) -> int:
        return gateway.handle(HttpRequest("GET", "/x", "", [("Authorization", token)])).response.status

    assert [status("Bearer good"), status("Bearer good"), status("Bearer bad"), status("Bearer bad")] == [
        200,
        200,
        403,
        403,
    ]
    assert calls == ["Authorizer", "Fn", "Fn", "Authorizer"]


def test_no_free_worker_within_the_wait_is_a_503_problem_not_a_hang(tmp_path: Path) -> None:
    from devstack.stack.console import Console
    from devstack.stack.gateway import Gateway
    from devstack.stack.google import GoogleStandIn
    from devstack.stack.runtime import InvocationResult

    (tmp_path / "fn").mkdir()
    (tmp_path / "template.yaml").write_text(CACHED_AUTHORIZER)
    template = open_template(tmp_path / "template.yaml", {})
    app = build_application(
        template, LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
    )
    waits: list[float | None] = []

    def invoke(
        function: str, event: Any, *, timeout: float | None = None, wait: float | None = None
    ) -> InvocationResult:
        if function == "Authorizer":
            return InvocationResult("ok", result={"isAuthorized": True})
        waits.append(wait)
        return InvocationResult("throttled", error={"errorType": "TooManyRequestsException"})

    gateway = Gateway(
        app=app,
        invoke=invoke,
        console=Console(),
        google=GoogleStandIn(),
        static=None,
        local_routes=lambda r: None,
    )
    gateway.worker_wait = 2.5
    response = gateway.handle(HttpRequest("GET", "/x", "", [("Authorization", "Bearer t")])).response
    assert response.status == 503
    assert response.header("Content-Type") == "application/problem+json"
    assert response.header("Retry-After") == "1"
    assert json.loads(response.body)["code"] == "service_unavailable"
    assert waits == [2.5]


def test_the_real_templates_capacity_parameters_reach_the_local_stack() -> None:
    """Reserved concurrency is an !If on a parameter (0 = unreserved) and the generator's
    MaximumConcurrency a !Ref: the local stack resolves both as CloudFormation would."""
    path = Path(__file__).resolve().parents[2] / "template.yaml"

    def application(environment: dict[str, str]) -> Any:
        template = open_template(path, environment)
        resources = LocalResources(template, endpoint_url="http://e", gateway_url="http://g")
        return build_application(template, resources)

    default = application({})
    assert default.functions["ImagesFunction"].reserved_concurrency is None
    generator = next(s for s in default.subscriptions if s.function == "GeneratorFunction")
    assert generator.max_concurrency == 4  # the parameter's 10, capped at the local stack's 4 workers
    reserved = application({"ImagesReservedConcurrency": "3", "GeneratorMaxConcurrency": "2"})
    assert reserved.functions["ImagesFunction"].reserved_concurrency == 3
    assert reserved.functions["AdminFunction"].reserved_concurrency is None
    generator = next(s for s in reserved.subscriptions if s.function == "GeneratorFunction")
    assert generator.max_concurrency == 2
