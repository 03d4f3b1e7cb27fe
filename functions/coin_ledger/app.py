"""Coin changes after the request, and the dead letters of the generation and thumbnail queues.

Messages are told apart by shape: a ledger command, a dead-lettered generation request (fail the
image and refund it, once), a dead-lettered storage event (fail the upload and refund it), or a
dead-lettered export request (fail the export, once).
"""

from typing import Any

from imagegen.bootstrap import export_service, get_adapters, ledger_service
from imagegen.events import object_events, sqs_batch_handler
from imagegen.queues import ExportRequest, GenerationRequest, LedgerCommand


def handle(body: dict[str, Any]) -> None:
    ledger = ledger_service(get_adapters())
    kind = body.get("kind")
    if kind == "ledger_command":
        ledger.apply(LedgerCommand.from_json(body))
    elif kind == "generate_image":
        ledger.fail_image(GenerationRequest.from_json(body).image_id, "generation_failed")
    elif kind == "export_zip":
        export_service(get_adapters()).fail_dead_letter(ExportRequest.from_json(body))
    else:
        for created in object_events(body):
            ledger.fail_by_storage_key(created.key, "processing_failed")


lambda_handler = sqs_batch_handler(handle)
