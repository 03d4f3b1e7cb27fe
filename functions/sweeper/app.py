"""Scheduled: fails and refunds images stuck in PENDING or PROCESSING (paid ones first), finishes
account erasures that stopped half-way, removes orphaned objects; until its time runs out."""

from typing import Any

from imagegen.bootstrap import get_adapters, sweeper
from imagegen.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return sweeper(get_adapters()).run(time_left=lambda: context.get_remaining_time_in_millis() / 1000)


lambda_handler = traced_handler(_handler)
