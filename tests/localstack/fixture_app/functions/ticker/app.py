"""Scheduled function: records the EventBridge event it got."""

from __future__ import annotations

from typing import Any

import fixture_common


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    fixture_common.record(f"tick#{event['id']}", detail_type=event["detail-type"], source=event["source"])
    return {"ticked": event["id"]}
