"""The local stack's HTTP API, driven over real HTTP: API Gateway's payload 2.0, authorizer, CORS, errors."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import pytest

from tests.localstack.conftest import RunningStack, request

pytestmark = pytest.mark.e2e

ALICE = {"Authorization": "Bearer alice"}
ORIGIN = "http://localhost:5173"


def echo(stack: RunningStack, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    reply = stack.call(method, path, **kwargs)
    assert reply.status == 200, reply.body
    document: dict[str, Any] = reply.json()
    return document


def test_event_is_an_http_api_payload_v2(stack: RunningStack) -> None:
    headers = {**ALICE, "Cookie": "a=1; b=2", "X-Multi": "one", "User-Agent": "tests/1.0"}
    document = echo(stack, "GET", "/items/abc%20def?x=1&x=2&empty=&q=a%2Bb", headers=headers)
    event = document["event"]

    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/abc%20def"
    assert event["rawQueryString"] == "x=1&x=2&empty=&q=a%2Bb"
    assert event["queryStringParameters"] == {"x": "1,2", "empty": "", "q": "a+b"}
    assert event["pathParameters"] == {"id": "abc def"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one"
    assert event["headers"]["authorization"] == "Bearer alice"
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["stageVariables"] is None
    assert event["isBase64Encoded"] is False
    assert "body" not in event

    context = event["requestContext"]
    assert context["accountId"] == "123456789012"
    assert context["stage"] == "$default"
    assert context["routeKey"] == "GET /items/{id}"
    assert context["http"] == {
        "method": "GET",
        "path": "/items/abc%20def",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tests/1.0",
    }
    assert context["domainName"] == stack.url.removeprefix("http://")
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 30
    assert context["requestId"]
    authorizer = context["authorizer"]["lambda"]
    assert authorizer["user"] == "alice"
    assert authorizer["identitySource"] == ["Bearer alice"]
    assert authorizer["type"] == "REQUEST" and authorizer["version"] == "2.0"
    assert authorizer["routeArn"].endswith(f"{context['apiId']}/$default/GET/items/abc%20def")


def test_every_cookie_header_goes_into_the_events_cookies(stack: RunningStack) -> None:
    """A client may send its cookies in more than one ``Cookie`` header; API Gateway lists them all,
    each ``name=value`` as sent (a value may hold ``=``)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(stack.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.putrequest("GET", "/public/echo")
    connection.putheader("Cookie", "a=1; b=2")
    connection.putheader("Cookie", "flow=ab==")
    connection.endheaders()
    document = json.loads(connection.getresponse().read())
    connection.close()
    assert document["event"]["cookies"] == ["a=1", "b=2", "flow=ab=="]
    assert "cookie" not in document["event"]["headers"]


def test_literal_route_wins_over_path_variable_and_greedy_path(stack: RunningStack) -> None:
    assert echo(stack, "GET", "/items/stats", headers=ALICE)["event"]["routeKey"] == "GET /items/stats"
    event = echo(stack, "DELETE", "/echo/a/b%2Fc/d", headers=ALICE)["event"]
    assert event["routeKey"] == "ANY /echo/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c/d"}


def test_repeated_request_headers_are_joined_with_commas(stack: RunningStack) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(stack.url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.putrequest("GET", "/public/echo")
    connection.putheader("X-Repeated", "one")
    connection.putheader("X-Repeated", "two")
    connection.endheaders()
    document = json.loads(connection.getresponse().read())
    connection.close()
    assert document["event"]["headers"]["x-repeated"] == "one,two"


def test_text_and_binary_bodies(stack: RunningStack) -> None:
    text = echo(
        stack, "POST", "/public/echo", headers={"Content-Type": "application/json"}, body=b'{"a": "\xc3\xa9"}'
    )
    assert text["event"]["body"] == '{"a": "é"}'
    assert text["event"]["isBase64Encoded"] is False
    assert text["event"]["routeKey"] == "POST /public/echo"

    payload = bytes(range(256))
    binary = echo(stack, "POST", "/public/echo", headers={"Content-Type": "image/png"}, body=payload)
    assert binary["event"]["isBase64Encoded"] is True
    assert base64.b64decode(binary["event"]["body"]) == payload


def test_function_response_mapping(stack: RunningStack) -> None:
    reply = stack.get("/public/echo?status=201")
    assert reply.status == 201
    assert reply.header("x-echo") == "1"
    assert reply.all("x-multi") == ["a", "b"]
    assert reply.all("set-cookie") == ["seen=1; Path=/", "other=2; Path=/"]
    assert reply.header("apigw-requestid")

    inferred = stack.get("/public/echo?raw=1")
    assert inferred.status == 200
    assert inferred.header("content-type") == "application/json"
    assert inferred.json() == {"raw": True, "path": "/public/echo"}

    binary = stack.get("/public/echo?binary=1")
    assert binary.status == 200
    assert binary.body == bytes(range(256))

    invalid = stack.get("/public/echo?invalid=1")
    assert invalid.status == 500
    assert invalid.json()["code"] == "internal_error"


def test_function_environment_and_context(stack: RunningStack) -> None:
    document = echo(stack, "GET", "/public/echo")
    env = document["env"]
    emulator = stack.info["emulatorUrl"]
    assert env["TABLE_NAME"] == stack.resource_name("Table")  # a resource's name is not overridden
    assert env["GREETING"] == "bonjour"  # the caller's value of a variable fed by a parameter
    assert env["OWN_SETTING"] == "from-caller"  # the caller's value of a variable the template sets
    assert env["HOME_SECRET_OF_CALLER"] is None  # nothing else of the caller's environment
    assert env["STAGE_LABEL"] == "testing"
    assert env["JOINED"] == "a-us-east-1"
    assert env["WORK_QUEUE_URL"] == stack.queue_url("WorkQueue")
    assert env["BUCKET_NAME"] == "fixture-test-123456789012"
    assert env["SECRET_ID"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:")
    assert env["AWS_ENDPOINT_URL"] == emulator
    assert env["S3_ENDPOINT_URL"] == emulator
    assert env["AWS_REGION"] == "us-east-1"
    assert env["API_BASE_URL"] == stack.url
    assert env["FRONTEND_URL"] == stack.url
    assert env["GOOGLE_AUTH_URL"] == f"{stack.url}/_local/google/authorize"
    assert env["GOOGLE_TOKEN_URL"] == f"{stack.url}/_local/google/token"
    assert env["GOOGLE_JWKS_URL"] == f"{stack.url}/_local/google/certs"
    assert document["layer"] == "common-layer"
    assert document["module_file"].endswith("fixture_app/functions/echo/app.py")

    context = document["context"]
    assert context["function_name"] == env["AWS_LAMBDA_FUNCTION_NAME"] == "imagegen-local-EchoFunction"
    assert context["memory_limit_in_mb"] == "256"
    assert (
        context["invoked_function_arn"]
        == "arn:aws:lambda:us-east-1:123456789012:function:imagegen-local-EchoFunction"
    )
    assert 0 < context["remaining_ms"] <= 5000
    assert context["aws_request_id"]


def test_each_function_has_its_own_app_module(stack: RunningStack) -> None:
    echo_reply = stack.get("/public/echo")
    slow_reply = stack.get("/slow?seconds=0")
    assert echo_reply.status == slow_reply.status == 200
    assert echo_reply.json()["pid"] != slow_reply.json()["pid"]
    assert "slept" in slow_reply.json()


def test_authorizer_missing_identity_is_401_without_calling_it(stack: RunningStack) -> None:
    # The fixture authorizer would allow an empty token; API Gateway answers before calling it.
    reply = stack.get("/items/1")
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert stack.get("/items/1", headers={"Authorization": ""}).status == 401


def test_authorizer_denial_is_403_forbidden(stack: RunningStack) -> None:
    reply = stack.get("/items/1", headers={"Authorization": "Bearer deny-me"})
    assert reply.status == 403
    assert reply.json() == {"message": "Forbidden"}


def test_authorizer_failure_is_500(stack: RunningStack) -> None:
    reply = stack.get("/items/1", headers={"Authorization": "Bearer explode"})
    assert reply.status == 500
    assert reply.json()["code"] == "internal_error"


def test_route_without_authorizer_skips_it(stack: RunningStack) -> None:
    event = echo(stack, "GET", "/public/echo")["event"]
    assert "authorizer" not in event["requestContext"]


def test_cors_preflight_is_answered_by_the_gateway(stack: RunningStack) -> None:
    reply = stack.call(
        "OPTIONS",
        "/items/1",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert reply.status == 204
    assert reply.header("access-control-allow-origin") == ORIGIN
    assert reply.header("access-control-allow-methods") == "GET,POST,DELETE"
    assert reply.header("access-control-allow-headers") == "authorization,content-type"
    assert reply.header("access-control-max-age") == "600"
    assert reply.header("access-control-allow-credentials") == "true"

    foreign = stack.call(
        "OPTIONS",
        "/items/1",
        headers={
            "Origin": "https://elsewhere.example",
            "Access-Control-Request-Method": "GET",
        },
    )
    assert foreign.status == 204
    assert foreign.header("access-control-allow-origin") is None


def test_cors_headers_on_responses_replace_the_functions(stack: RunningStack) -> None:
    reply = stack.get("/public/echo", headers={"Origin": ORIGIN})
    assert reply.all("access-control-allow-origin") == [ORIGIN]  # the function's own value is dropped
    assert reply.header("access-control-expose-headers") == "x-echo"
    assert (
        stack.get("/public/echo", headers={"Origin": "https://elsewhere.example"}).header(
            "access-control-allow-origin"
        )
        is None
    )
    denied = stack.get("/items/1", headers={"Origin": ORIGIN})
    assert denied.status == 401
    assert denied.header("access-control-allow-origin") == ORIGIN


def test_handler_exception_is_a_500_problem_and_the_server_lives_on(stack: RunningStack) -> None:
    reply = stack.get("/boom")
    assert reply.status == 500
    assert reply.header("content-type") == "application/problem+json"
    assert reply.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Internal Server Error",
        "code": "internal_error",
    }
    assert b"secret internal detail" not in reply.body
    assert stack.get("/health").status == 200
    assert stack.get("/boom").status == 500
    assert "GET /boom 500" in stack.output()


def test_worker_crash_is_a_500_and_the_worker_is_replaced(stack: RunningStack) -> None:
    reply = stack.get("/boom?crash=1")
    assert reply.status == 500
    assert reply.json()["code"] == "internal_error"
    assert stack.get("/boom").status == 500  # a new worker, raising as usual
    assert "Runtime.ExitError" in stack.output()


def test_timeout_is_a_500_and_the_function_recovers(stack: RunningStack) -> None:
    started = time.monotonic()
    reply = stack.get("/slow?seconds=10")
    elapsed = time.monotonic() - started
    assert reply.status == 500
    assert 2.5 < elapsed < 6  # the function's Timeout is 3 s
    assert stack.get("/slow?seconds=0").status == 200


def test_a_slow_request_does_not_block_others(stack: RunningStack) -> None:
    assert stack.get("/public/echo").status == 200  # warm
    result: dict[str, float] = {}

    def slow() -> None:
        started = time.monotonic()
        assert stack.get("/slow?seconds=2").status == 200
        result["slow"] = time.monotonic() - started

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert stack.get("/public/echo").status == 200
    fast = time.monotonic() - started
    thread.join()
    assert fast < 1.0, fast
    assert result["slow"] >= 2.0


def test_concurrent_requests_to_one_function_run_in_parallel(stack: RunningStack) -> None:
    durations: list[float] = []

    def slow() -> None:
        assert stack.get("/slow?seconds=1").status == 200

    started = time.monotonic()
    threads = [threading.Thread(target=slow) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    durations.append(time.monotonic() - started)
    assert durations[0] < 2.8  # three 1 s calls, not one after the other


def test_a_burst_of_clients_is_served(stack: RunningStack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(lambda _: stack.get("/health").status, range(64)))
    assert statuses == [200] * 64


def test_health_comes_from_the_function_declaring_it(stack: RunningStack) -> None:
    event = echo(stack, "GET", "/health")["event"]
    assert event["routeKey"] == "GET /health"


def test_unknown_route_and_method_are_404_problems(stack: RunningStack) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("POST", "/health"),
        ("GET", "/items"),
        ("GET", "/echo"),
    ):
        reply = stack.call(method, path, headers={"Accept": "application/json"})
        assert reply.status == 404, (method, path)
        assert reply.header("content-type") == "application/problem+json"
        assert reply.json()["code"] == "not_found"


def test_payload_over_10_mb_is_413(stack: RunningStack) -> None:
    reply = stack.call(
        "POST",
        "/public/echo",
        body=b"x" * (10 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert reply.status == 413
    assert stack.get("/health").status == 200


def test_frontend_files_and_spa_navigation(stack: RunningStack) -> None:
    script = stack.get("/assets/app.js")
    assert script.status == 200
    assert script.body.startswith(b"console.log")
    assert (script.header("content-type") or "").startswith(("text/javascript", "application/javascript"))

    navigation = stack.get("/view/123", headers={"Accept": "text/html,application/xhtml+xml"})
    assert navigation.status == 200
    assert b"fixture spa" in navigation.body
    assert stack.get("/", headers={"Accept": "text/html"}).body == navigation.body

    assert stack.get("/missing.js", headers={"Accept": "*/*"}).status == 404
    assert stack.get("/../../etc/passwd", headers={"Accept": "*/*"}).status == 404
    # An API route is never shadowed by the frontend, even for a browser navigation.
    assert stack.get("/health", headers={"Accept": "text/html"}).json()["event"]["rawPath"] == "/health"


def test_info_lists_the_templates_resources_and_routes(stack: RunningStack) -> None:
    info = request("GET", stack.url + "/_local/info").json()
    assert info["resources"]["WorkQueue"]["url"].startswith(info["emulatorUrl"])
    assert "Unused" not in info["resources"]  # its Condition is false
    assert {
        "routeKey": "GET /items/{id}",
        "function": "EchoFunction",
        "authorizer": "TokenAuthorizer",
    } in info["routes"]


def test_http_servers_own_refusals_are_problem_documents(stack: RunningStack) -> None:
    import http.client
    import json as _json
    from urllib.parse import urlsplit

    parts = urlsplit(stack.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        connection.request("TRACE", "/health")
        response = connection.getresponse()
        body = _json.loads(response.read())
    finally:
        connection.close()
    assert response.status == 501
    assert response.getheader("content-type") == "application/problem+json"
    assert (body["status"], body["code"]) == (501, "not_implemented") and body["detail"]
    assert stack.get("/health").status == 200
