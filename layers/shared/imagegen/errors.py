"""Domain errors. Each carries the contract's stable ``code`` and the HTTP status it maps to.

The HTTP layer turns any :class:`DomainError` into an RFC 9457 problem response in one place;
nothing else needs to know about statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class DomainError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)

    def extra(self) -> dict[str, object]:
        """Extra members of the problem document (beyond type, title, status, detail, code)."""
        return {}


class ValidationError(DomainError):
    code = "validation_error"
    status = 422
    title = "Validation failed"

    def __init__(self, errors: list[FieldError] | FieldError, detail: str | None = None) -> None:
        self.errors = [errors] if isinstance(errors, FieldError) else list(errors)
        super().__init__(detail or "; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def single(cls, field: str, message: str) -> ValidationError:
        return cls(FieldError(field, message))

    def extra(self) -> dict[str, object]:
        return {"errors": [e.to_json() for e in self.errors]}


class InvalidJson(DomainError):
    code = "invalid_json"
    status = 400
    title = "Request body is not valid JSON"


class InvalidCursor(DomainError):
    code = "invalid_cursor"
    status = 400
    title = "The cursor is not valid for this list"


class InvalidState(DomainError):
    code = "invalid_state"
    status = 400
    title = "Unknown, expired or reused sign-in state"


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401
    title = "Authentication required"


class InvalidIdToken(DomainError):
    code = "invalid_id_token"
    status = 401
    title = "The identity token could not be verified"


class InsufficientCoins(DomainError):
    code = "insufficient_coins"
    status = 402
    title = "Not enough coins"

    def __init__(self, required: int, available: int) -> None:
        self.required = required
        self.available = available
        super().__init__(f"This needs {required} coins; the balance is {available}.")

    def extra(self) -> dict[str, object]:
        return {"required": self.required, "available": self.available}


class Forbidden(DomainError):
    code = "forbidden"
    status = 403
    title = "Not allowed"


class EmailNotVerified(DomainError):
    code = "email_not_verified"
    status = 403
    title = "The Google account's email is not verified"


class NotFound(DomainError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    status = 409
    title = "Conflict"


class AlreadyExists(Conflict):
    code = "already_exists"
    title = "Already exists"


class StorageKeyTaken(AlreadyExists):
    """Another image already uses this storage key."""


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The image cannot move to that status"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 409
    title = "Idempotency-Key was used with a different request"


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(f"Try again in {self.retry_after} seconds.")

    def extra(self) -> dict[str, object]:
        return {"retryAfter": self.retry_after}


class PayloadTooLarge(DomainError):
    code = "payload_too_large"
    status = 413
    title = "Request too large"


class ServiceUnavailable(DomainError):
    code = "service_unavailable"
    status = 503
    title = "Temporarily unavailable, try again"


class ImageRejected(DomainError):
    """Stored content is not an acceptable image. ``reason`` is the contract's ``failureReason``."""

    code = "image_rejected"
    status = 422
    title = "The file is not an acceptable image"
    REASONS: ClassVar[frozenset[str]] = frozenset(
        {"not_an_image", "unsupported_format", "too_large", "decompression_bomb", "content_replaced"}
    )

    def __init__(self, reason: str, detail: str | None = None) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        self.reason = reason
        super().__init__(detail or reason)


class TransientError(Exception):
    """A failure worth retrying (throttling, a provider timeout). Not a client-facing error."""


class ProviderThrottled(TransientError):
    """The image provider refused for its rate or quota, after the provider's own short retries.

    Backpressure, not a fault: the generation waits (in its queue) and tries again later; it ends
    ``FAILED provider_unavailable`` (with its refund) only when it has waited too long.
    """

    def __init__(
        self, detail: str = "the image provider is throttling", retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class PermanentError(Exception):
    """A failure that retrying will not fix; ``reason`` becomes the image's ``failureReason``."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        self.reason = reason
        super().__init__(detail or reason)


class ImageNotReady(Conflict):
    code = "image_not_ready"
    title = "The image is not ready yet"


class SignInCancelled(DomainError):
    code = "sign_in_cancelled"
    status = 400
    title = "Sign-in was cancelled at Google"


class InvalidSignature(DomainError):
    """A webhook whose ``Stripe-Signature`` is missing, malformed, stale or does not match its body."""

    code = "invalid_signature"
    status = 400
    title = "Invalid signature"


class PaymentProviderError(DomainError):
    """The payment provider refused or could not be reached; the detail stays generic."""

    code = "service_unavailable"
    status = 503
    title = "Service unavailable"


class InCollections(Conflict):
    """An image cannot be deleted while it is in a collection (a membership joined during its delete);
    the use case takes it out of its collections and tries again."""

    code = "conflict"
