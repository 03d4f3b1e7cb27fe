"""Scheduled: fails and refunds images stuck in PENDING or PROCESSING; removes orphaned objects."""

from typing import Any

from imagegen.bootstrap import get_adapters, sweeper
from imagegen.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return sweeper(get_adapters()).run()


lambda_handler = traced_handler(_handler)
