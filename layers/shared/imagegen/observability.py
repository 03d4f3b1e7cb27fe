"""Powertools Logger, Metrics and Tracer shared by every function.

Tracing is switched by ``POWERTOOLS_TRACE_DISABLED`` (on by default in the template's Globals only
when the ``Tracing`` parameter says so); the X-Ray SDK is imported only when tracing is enabled.
"""

from __future__ import annotations

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


def traced_handler(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Lambda handler with the Tracer only when tracing is on (keeps cold starts small)."""
    if not _tracing_enabled():
        return handler
    wrapped: Callable[..., Any] = _tracer().capture_lambda_handler(handler)
    return wrapped


def add_metric(name: str, unit: MetricUnit, value: float) -> None:
    metrics.add_metric(name=name, unit=unit, value=value)
