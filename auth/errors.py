"""Errors with stable slugs raised by the auth room."""

from __future__ import annotations

from auth.throttle import AccountLocked
from core.errors import DomainError, Forbidden, InvalidCredentials

__all__ = ["AccountLocked", "CallerPinWrong", "CurrentSecretWrong", "VerificationRequired"]


class VerificationRequired(Forbidden):
    slug, title = "verification-required", "A fresh caller verification is required"


class CallerPinWrong(DomainError):
    """The PIN an agent typed for a caller is wrong (or the phone unknown: the same answer).
    Not 401, which would tell the agent's client that its own token failed."""

    status, slug, title = 422, "caller-pin-wrong", "The caller's phone or PIN is not right"


class CurrentSecretWrong(DomainError):
    """The current PIN or password given to change it is wrong. Not 401: the bearer token is
    fine, and a client that reads 401 as "signed out" would drop a valid session."""

    status, slug, title = 422, "current-secret-wrong", "The current PIN or password is not right"

    @classmethod
    def on(cls, field: str, miss: InvalidCredentials) -> CurrentSecretWrong:
        return cls(f"{field}: {miss.detail}", errors=[{"field": field, "message": "is not right"}])
