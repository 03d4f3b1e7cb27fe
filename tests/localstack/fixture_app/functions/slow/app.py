"""Sleeps ?seconds= (default 2): a slow handler, or one that outlives its timeout."""

from __future__ import annotations

import os
import time
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    seconds = float((event.get("queryStringParameters") or {}).get("seconds", 2))
    time.sleep(seconds)
    return {"slept": seconds, "pid": os.getpid()}
