"""SDK failures of the S3 API as domain errors, so no AWS text can reach a client.

A missing object is ``NotFound``, throttling and 5xx are ``ServiceUnavailable``, anything else is a
``StorageError`` (a plain 500). botocore is imported only when a call is made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from imagegen.errors import DomainError, NotFound, ServiceUnavailable

log = logging.getLogger(__name__)

_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NotFound", "404"})
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequests",
        "TooManyRequestsException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)


class StorageError(DomainError):
    """A storage failure that retrying will not fix (bad configuration, access denied, ...).

    Its detail is ours, never the SDK's, since problem responses show the detail."""

    def __init__(self, detail: str = "The storage request failed") -> None:
        super().__init__(detail)


def error_code(exc: Exception) -> tuple[str, int]:
    """The S3 error code and HTTP status of a ``ClientError``."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def is_unavailable(code: str, status: int) -> bool:
    """Whether a retry later may succeed: throttling, timeouts, 5xx."""
    return code in _UNAVAILABLE_CODES or status == 429 or status >= 500


@contextmanager
def translated(operation: str, key: str | None = None) -> Iterator[None]:
    """Turns SDK failures into domain errors; the SDK's text stays in the log."""
    from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as EndpointUnreachable

    try:
        yield
    except ClientError as exc:
        code, status = error_code(exc)
        # A missing bucket is our misconfiguration, not the client's missing resource.
        if code in _NOT_FOUND_CODES or (status == 404 and code != "NoSuchBucket"):
            raise NotFound("The object does not exist") from exc
        if is_unavailable(code, status):
            log.warning("storage %s unavailable: %s", operation, code or status, extra={"key": key})
            raise ServiceUnavailable("Storage is busy; try again") from exc
        log.error("storage %s failed: %s", operation, code or status, extra={"key": key})
        raise StorageError() from exc
    except (EndpointUnreachable, HTTPClientError) as exc:  # refused, reset, timed out
        log.warning("storage %s unreachable: %s", operation, type(exc).__name__, extra={"key": key})
        raise ServiceUnavailable("Storage is unreachable; try again") from exc
    except BotoCoreError as exc:  # no credentials, bad parameters: configuration, not load
        log.error("storage %s failed: %s", operation, type(exc).__name__, extra={"key": key})
        raise StorageError() from exc
