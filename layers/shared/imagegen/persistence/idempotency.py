"""``Idempotency-Key`` for the use cases that cost or grant coins: Powertools idempotency over the table.

Records live in the caller's own partition (``USER#{id}``), so they go with the account and no
single partition holds every key. The same key with the same payload returns the first result;
with another payload it is ``409 idempotency_key_reused``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from imagegen import aws
from imagegen.errors import (
    DomainError,
    IdempotencyKeyReused,
    RequestInProgress,
    ServiceUnavailable,
    ValidationError,
)

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
RECORD_TTL_SECONDS = 24 * 3600


def validate_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _KEY.match(key):
        raise ValidationError.single("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
    return key


def run_once(
    *,
    table_name: str,
    user_id: str,
    scope: str,
    key: str | None,
    payload: dict[str, Any],
    fn: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    if key is None:
        return fn()
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyPersistenceLayerError,
        IdempotencyValidationError,
    )

    store = DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=f"USER#{user_id}",
        expiry_attr="expires_at",
        status_attr="idempotency_status",
        data_attr="idempotency_data",
        boto3_client=aws.client("dynamodb"),
    )
    config = IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="payload",
        expires_after_seconds=RECORD_TTL_SECONDS,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=store, config=config
    )
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return fn()

    try:
        result: dict[str, Any] = once(request={"key": f"{scope}:{key}", "payload": payload})
        return result
    except DomainError:
        raise
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.") from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise RequestInProgress() from exc
    except IdempotencyPersistenceLayerError as exc:
        raise ServiceUnavailable("could not record the request") from exc
