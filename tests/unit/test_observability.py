"""With tracing on, no session token, presigned URL or error message reaches X-Ray.

The handlers run with tracing enabled in a child process (the Tracer patches libraries process-wide,
and the X-Ray SDK keeps global state), under Lambda's environment, with the X-Ray SDK's own recorder
sending to an in-memory emitter instead of the UDP daemon. What the emitter got is what X-Ray would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "eyJhbGciOiJIUzI1NiJ9.SESSION-TOKEN-SECRET.sig"
PRESIGNED = "https://bucket.s3.amazonaws.com/images/u/1.png?X-Amz-Signature=PRESIGNED-SECRET"
ERROR_SECRET = "ERROR-MESSAGE-SECRET"

CHILD = f"""
import json, sys
from aws_xray_sdk.core import xray_recorder
from aws_xray_sdk.core.emitters.udp_emitter import UDPEmitter


class InMemoryEmitter(UDPEmitter):
    def __init__(self):
        super().__init__()
        self.entities = []

    def send_entity(self, entity):
        self.entities.append(json.loads(entity.serialize()))


emitter = InMemoryEmitter()
xray_recorder.configure(emitter=emitter)

from aws_lambda_powertools.event_handler import Response
from imagegen.http.api import create_resolver, lambda_entry, new_router
from imagegen.observability import traced_handler

router = new_router()


@router.get("/signed-in")
def signed_in():
    return Response(200, "application/json", json.dumps({{"token": {TOKEN!r}, "url": {PRESIGNED!r}}}))


http_handler = lambda_entry(create_resolver(router), lambda: None)


@traced_handler
def batch_handler(event, context):
    return {{"batchItemFailures": [], "url": {PRESIGNED!r}}}


@traced_handler
def failing_handler(event, context):
    raise RuntimeError({ERROR_SECRET!r})


class Context:
    function_name = "probe"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:probe"
    aws_request_id = "req-1"


event = {{
    "version": "2.0",
    "routeKey": "GET /signed-in",
    "rawPath": "/signed-in",
    "rawQueryString": "",
    "headers": {{"accept": "application/json"}},
    "requestContext": {{
        "requestId": "r1",
        "stage": "$default",
        "http": {{"method": "GET", "path": "/signed-in", "protocol": "HTTP/1.1", "sourceIp": "1.2.3.4"}},
    }},
    "isBase64Encoded": False,
}}
results = {{"http": http_handler(event, Context()), "batch": batch_handler({{}}, Context())}}
try:
    failing_handler({{}}, Context())
except RuntimeError as exc:
    results["raised"] = [type(exc).__name__, str(exc)]
json.dump({{"results": results, "entities": emitter.entities}}, sys.stdout)
"""


@pytest.fixture(scope="module")
def traced() -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)]),
        "POWERTOOLS_TRACE_DISABLED": "false",
        "POWERTOOLS_SERVICE_NAME": "probe",
        "AWS_LAMBDA_FUNCTION_NAME": "probe",
        "LAMBDA_TASK_ROOT": str(ROOT),
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name in ("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "POWERTOOLS_TRACER_CAPTURE_ERROR"):
        env.pop(name, None)  # the code's own choice, not a default from the environment
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _subsegment(traced: dict[str, Any], name: str) -> dict[str, Any]:
    found = [entity for entity in traced["entities"] if entity["name"] == f"## {name}"]
    assert len(found) == 1, [entity["name"] for entity in traced["entities"]]
    return found[0]


def test_the_handlers_still_answer_and_raise_as_before(traced: dict[str, Any]) -> None:
    http = traced["results"]["http"]
    assert http["statusCode"] == 200 and json.loads(http["body"]) == {"token": TOKEN, "url": PRESIGNED}
    assert traced["results"]["batch"]["url"] == PRESIGNED
    assert traced["results"]["raised"] == ["RuntimeError", ERROR_SECRET]  # Lambda still sees the error


def test_the_tracer_records_the_handlers(traced: dict[str, Any]) -> None:
    for name in ("handler", "batch_handler", "failing_handler"):
        subsegment = _subsegment(traced, name)
        assert subsegment["annotations"]["Service"] == "probe"


def test_no_response_is_captured(traced: dict[str, Any]) -> None:
    for name in ("handler", "batch_handler"):
        assert "metadata" not in _subsegment(traced, name)
    emitted = json.dumps(traced["entities"])
    assert "SESSION-TOKEN-SECRET" not in emitted
    assert "PRESIGNED-SECRET" not in emitted


def test_an_escaping_error_reaches_x_ray_as_its_type_only(traced: dict[str, Any]) -> None:
    failing = _subsegment(traced, "failing_handler")
    assert failing.get("fault") is True
    assert "metadata" not in failing
    (exception,) = failing["cause"]["exceptions"]
    assert exception["message"] == "RuntimeError (message not recorded)"
    assert ERROR_SECRET not in json.dumps(traced["entities"])
