"""Powertools Logger, Metrics and Tracer shared by every function.

Tracing is switched by ``POWERTOOLS_TRACE_DISABLED`` (on by default in the template's Globals only
when the ``Tracing`` parameter says so); the X-Ray SDK is imported only when tracing is enabled.

What a trace holds is readable by anyone with X-Ray access, for as long as X-Ray keeps it, so the
handler's subsegment records no response (session tokens, presigned URLs) and no exception message
(it may quote either): an exception that escapes a handler reaches X-Ray as its type only, and Lambda
still gets the exception itself.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "ImageGen")

# A request that records no metric is normal (GET /me); Powertools warns on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "imagegen"))
metrics = Metrics(namespace=NAMESPACE)

__all__ = ["MetricUnit", "logger", "metrics", "traced_handler"]


def _tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() not in ("1", "true", "yes")


@cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()


class RedactedError(Exception):
    """What X-Ray records of an exception that escapes a handler: its type, not its message."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(f"{type(original).__name__} (message not recorded)")
        self.original = original


def traced_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Lambda handler with the Tracer only when tracing is on (keeps cold starts small).

    Neither the response nor the error is captured as metadata, and the X-Ray SDK (which records
    the exception leaving a subsegment) sees a :class:`RedactedError`; the caller gets the original."""
    if not _tracing_enabled():
        return handler

    @functools.wraps(handler)
    def redacting(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        except Exception as exc:
            raise RedactedError(exc) from None

    traced: Callable[..., Any] = _tracer().capture_lambda_handler(
        redacting, capture_response=False, capture_error=False
    )

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        escaped: BaseException
        try:
            return traced(event, context)
        except RedactedError as redacted:
            escaped = redacted.original
        raise escaped  # outside the except block: no chaining to the redacted stand-in

    return entry


def add_metric(name: str, unit: MetricUnit, value: float) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)
