"""SQS consumer with partial batch failures: bodies containing "fail" are reported failed, the others are
recorded in the table. Every attempt at a failing body is recorded too, with its receive count."""

from __future__ import annotations

from typing import Any

import fixture_common


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        body = record["body"]
        count = record["attributes"]["ApproximateReceiveCount"]
        if "fail" in body:
            fixture_common.record(f"attempt#{body}#{count}", source=record["eventSourceARN"])
            failures.append({"itemIdentifier": record["messageId"]})
        else:
            fixture_common.record(f"work#{body}", count=count, md5=record["md5OfBody"])
    return {"batchItemFailures": failures}
