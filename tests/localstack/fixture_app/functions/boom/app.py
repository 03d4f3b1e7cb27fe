"""Always fails: the gateway must answer 500 and keep serving. ``?crash=1`` kills the process instead."""

from __future__ import annotations

import os
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    if (event.get("queryStringParameters") or {}).get("crash"):
        os._exit(3)
    raise ValueError("boom: secret internal detail")
