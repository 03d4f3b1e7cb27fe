"""Always fails: the gateway must answer 500 and keep serving."""

from __future__ import annotations

from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    raise ValueError("boom: secret internal detail")
