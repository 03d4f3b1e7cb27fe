"""Invoked by S3 directly (an S3 event of the function): records each object key."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import fixture_common


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        key = unquote_plus(record["s3"]["object"]["key"])
        fixture_common.record(f"direct#{key}", bucket=record["s3"]["bucket"]["name"])
