"""RFC 9457 problem responses: the one place where domain errors become HTTP."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response

from imagegen.errors import DomainError, RateLimited

PROBLEM_JSON = "application/problem+json"


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:imagegen:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(error: DomainError) -> Response[str]:
    headers: dict[str, str] = {"Cache-Control": "no-store"}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    body = problem_body(error.status, error.code, error.title, error.detail, **error.extra())
    return Response(
        status_code=error.status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers
    )


def internal_error_response() -> Response[str]:
    body = problem_body(
        500, "internal_error", "Internal error", "Something went wrong on our side; try again."
    )
    return Response(
        status_code=500,
        content_type=PROBLEM_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )
