"""DynamoDB failures become domain errors; no AWS text or exception type escapes the adapter."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from imagegen.errors import DomainError, ServiceUnavailable
from imagegen.persistence.dynamo import ConditionFailed, TransactionCancelled, translated
from pynamodb.exceptions import CancellationReason, GetError, PutError, TransactWriteError, VerboseClientError


def _client_error(code: str, operation: str = "PutItem") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"secret AWS detail about {code}"}}, operation)


@pytest.mark.parametrize(
    "code",
    [
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "InternalServerError",
    ],
)
def test_throttling_that_outlived_retries_is_service_unavailable(code: str) -> None:
    for raised in (_client_error(code), PutError("failed", _client_error(code))):
        with pytest.raises(ServiceUnavailable) as caught, translated():
            raise raised
        assert "secret" not in caught.value.detail


def test_unreachable_endpoint_is_service_unavailable() -> None:
    cause = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    with pytest.raises(ServiceUnavailable), translated():
        raise GetError("failed", cause)


def test_conditional_failure_is_internal_and_distinct() -> None:
    with pytest.raises(ConditionFailed), translated():
        raise PutError("failed", _client_error("ConditionalCheckFailedException"))


def test_other_errors_are_generic_internal_errors() -> None:
    with pytest.raises(DomainError) as caught, translated():
        raise GetError("failed", _client_error("ValidationException", "GetItem"))
    assert type(caught.value) is DomainError
    assert caught.value.status == 500
    assert "ValidationException" not in caught.value.detail and "secret" not in caught.value.detail


def test_cancelled_transactions_keep_their_reasons_by_position() -> None:
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=[None, CancellationReason(code="ConditionalCheckFailed")],
    )
    with pytest.raises(TransactionCancelled) as caught, translated():
        raise TransactWriteError("failed", cause)
    assert caught.value.reasons == {"1": "ConditionalCheckFailed"}
    assert not caught.value.transient
    assert "Conditional" not in caught.value.detail


def test_a_conflict_only_cancellation_is_transient() -> None:
    cancelled = TransactionCancelled({"user": "TransactionConflict"})
    assert cancelled.transient
    assert isinstance(cancelled.unexpected(), ServiceUnavailable)
    assert type(TransactionCancelled({"user": "ValidationError"}).unexpected()) is DomainError


def test_domain_errors_pass_through_unchanged() -> None:
    error = ServiceUnavailable("mine")
    with pytest.raises(ServiceUnavailable) as caught, translated():
        raise error
    assert caught.value is error
