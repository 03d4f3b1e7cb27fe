"""boto3 clients, created lazily once per process and reused across invocations.

Importing this module does not import boto3: functions that never touch a client pay nothing.
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` (read by botocore itself) point every client
at moto or the local stack with no special code path; ``endpoint_url`` is for a store that is not
AWS at all (Cloudflare R2).
"""

from __future__ import annotations

import threading
from typing import Any

_clients: dict[tuple[str, str | None, str | None, str], Any] = {}
_lock = threading.Lock()

# Unless a caller says otherwise: botocore's standard retry mode, a few attempts.
_DEFAULT_RETRIES = {"max_attempts": 5, "mode": "standard"}


def client(
    service: str, *, endpoint_url: str | None = None, region_name: str | None = None, **config: Any
) -> Any:
    """A shared boto3 client for ``service``. Thread-safe; created on first use.

    ``config`` holds botocore ``Config`` options (``retries``, timeouts, ``s3``, ...). Each distinct
    combination of service, endpoint, region and options gets its own client.
    """
    key = (service, endpoint_url, region_name, repr(sorted(config.items())))
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            boto_config = Config(**{"retries": _DEFAULT_RETRIES, **config})
            # A session of our own: boto3's default session is not safe to create clients from
            # concurrently.
            found = boto3.session.Session().client(  # type: ignore[call-overload]
                service, endpoint_url=endpoint_url, region_name=region_name, config=boto_config
            )
            _clients[key] = found
        return found


def reset_clients() -> None:
    """Forget cached clients (tests switch endpoints and credentials between cases)."""
    with _lock:
        _clients.clear()
