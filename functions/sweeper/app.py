"""Scheduled: fails and refunds images stuck in PENDING or PROCESSING (paid ones first), finishes
account erasures that stopped half-way, removes orphaned objects; then fails stuck exports and removes
expired ones (ZIP and record); until its time runs out."""

from typing import Any

from imagegen.bootstrap import export_service, get_adapters, sweeper
from imagegen.observability import logger, metrics, traced_handler


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def _handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    adapters = get_adapters()

    def time_left() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000

    counts = sweeper(adapters).run(time_left=time_left)
    return {**counts, **export_service(adapters).sweep(time_left=time_left)}


lambda_handler = traced_handler(_handler)
