"""boto3 clients, created lazily once per process and reused across invocations.

Importing this module does not import boto3: functions that never touch a client pay nothing.
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (read by botocore itself) point every client
at moto or the local stack with no special code path.
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str, **config: Any) -> Any:
    """A shared boto3 client for ``service``. Thread-safe; created on first use."""
    key = service if not config else f"{service}:{sorted(config.items())!r}"
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            boto_config = Config(retries={"max_attempts": 5, "mode": "standard"}, **config)
            found = boto3.session.Session().client(service, config=boto_config)  # type: ignore[call-overload]
            _clients[key] = found
        return found


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    with _lock:
        _clients.clear()
