"""Scheduled: fails and refunds images stuck in PENDING or PROCESSING; removes orphaned objects."""

from typing import Any

from imagegen.observability import logger, metrics, traced_handler
from imagegen.services.context import get_context
from imagegen.services.pipeline import Sweeper


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return Sweeper(get_context()).run()


lambda_handler = traced_handler(_handler)
