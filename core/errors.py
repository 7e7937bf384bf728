"""Domain errors. Rooms raise these; api/ maps them to RFC 9457 problem+json.

`slug` is the stable last segment of the problem `type` URI; clients switch on it.
"""

from __future__ import annotations

from typing import Any

# What every route says of JSON nested past the decoder (a 400): api/input_guard.py and the
# rooms that decode signed bodies themselves.
TOO_DEEP = "JSON nested too deeply"


class DomainError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra or {}


class ValidationFailed(DomainError):
    status, slug, title = 422, "validation-error", "Request is not valid"

    @classmethod
    def field(cls, name: str, message: str) -> ValidationFailed:
        return cls(f"{name}: {message}", errors=[{"field": name, "message": message}])


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Authentication required"


class InvalidCredentials(Unauthorized):
    slug, title = "invalid-credentials", "Invalid credentials"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Not allowed"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Invalid state transition"


class Busy(Conflict):
    """Someone else holds the lock; try again shortly."""

    slug, title = "busy", "Resource busy, retry shortly"

    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class IdempotencyConflict(DomainError):
    status, slug, title = 422, "idempotency-conflict", "Idempotency-Key reused with another body"


class IdempotencyInProgress(Conflict):
    slug, title = "idempotency-in-progress", "A request with this Idempotency-Key is running"


class Throttled(DomainError):
    status, slug, title = 429, "throttled", "Too many attempts"

    def __init__(self, detail: str | None = None, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = max(1, int(retry_after))


class PaymentRequired(DomainError):
    status, slug, title = 402, "payment-required", "Payment required"


class UpstreamUnavailable(DomainError):
    status, slug, title = 503, "upstream-unavailable", "A dependency is unavailable"
