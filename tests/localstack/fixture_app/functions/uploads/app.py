"""Consumer of the bucket's notifications wrapped in SQS: records each object key (and the S3 test event)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

import fixture_common


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("Event") == "s3:TestEvent":
            fixture_common.record("uploads#testevent", bucket=body["Bucket"])
            continue
        for s3_record in body["Records"]:
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            fixture_common.record(
                f"upload#{key}", event=s3_record["eventName"], raw_key=s3_record["s3"]["object"]["key"]
            )
