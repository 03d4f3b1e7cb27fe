"""Returns the event it got, with its environment and context, so tests can inspect what the gateway sent."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import fixture_common

SHOWN_ENV = (
    "TABLE_NAME",
    "BUCKET_NAME",
    "WORK_QUEUE_URL",
    "GREETING",
    "STAGE_LABEL",
    "SECRET_ID",
    "JOINED",
    "OWN_SETTING",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "S3_ENDPOINT_URL",
    "API_BASE_URL",
    "FRONTEND_URL",
    "GOOGLE_AUTH_URL",
    "GOOGLE_TOKEN_URL",
    "GOOGLE_JWKS_URL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "LAMBDA_TASK_ROOT",
    "HOME_SECRET_OF_CALLER",
)
INIT_PID = os.getpid()


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    query = event.get("queryStringParameters") or {}
    if query.get("raw"):
        return {"raw": True, "path": event["rawPath"]}
    if query.get("binary"):
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    if query.get("invalid"):
        return {"statusCode": "teapot"}
    document = {
        "event": event,
        "env": {name: os.environ.get(name) for name in SHOWN_ENV},
        "context": {
            "function_name": context.function_name,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "invoked_function_arn": context.invoked_function_arn,
            "aws_request_id": context.aws_request_id,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
        "layer": fixture_common.MARKER,
        "pid": INIT_PID,
        "module_file": __file__,
    }
    return {
        "statusCode": int(query.get("status", 200)),
        "headers": {
            "content-type": "application/json",
            "x-echo": "1",
            "access-control-allow-origin": "https://evil",
        },
        "multiValueHeaders": {"x-multi": ["a", "b"]},
        "cookies": ["seen=1; Path=/", "other=2; Path=/"],
        "body": json.dumps(document),
    }
