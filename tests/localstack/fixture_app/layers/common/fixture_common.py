"""Code shared by the fixture functions through a layer: proves layers are on the import path."""

from __future__ import annotations

import os
from typing import Any

import boto3

MARKER = "common-layer"


def table() -> Any:
    return boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def record(pk: str, **attributes: Any) -> None:
    table().put_item(Item={"pk": pk, "sk": "record", **attributes})
