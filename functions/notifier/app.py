"""The table's stream (filtered in template.yaml to images and ledger entries): each change pushed to
its user's open WebSocket connections, and deleted images' renditions invalidated at the CDN."""

from typing import Any

from imagegen.bootstrap import get_adapters, live_service, stream_decoder
from imagegen.observability import logger, traced_handler


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    adapters = get_adapters()
    records = event.get("Records") or []
    reference = str(records[0].get("eventID", "")) if records else ""
    delivery = live_service(adapters).deliver(stream_decoder(adapters)(records), reference=reference)
    logger.info("live updates delivered", extra={"records": len(records), **delivery.__dict__})
    return {"batchItemFailures": []}


lambda_handler = traced_handler(handler)
