"""Errors with stable slugs raised by the auth room."""

from __future__ import annotations

from auth.throttle import AccountLocked
from core.errors import DomainError, Forbidden

__all__ = ["AccountLocked", "CallerPinWrong", "VerificationRequired"]


class VerificationRequired(Forbidden):
    slug, title = "verification-required", "A fresh caller verification is required"


class CallerPinWrong(DomainError):
    """The PIN an agent typed for a caller is wrong (or the phone unknown: the same answer).
    Not 401, which would tell the agent's client that its own token failed."""

    status, slug, title = 422, "caller-pin-wrong", "The caller's phone or PIN is not right"
