"""Errors with stable slugs raised by the auth room."""

from __future__ import annotations

from auth.throttle import AccountLocked
from core.errors import Forbidden

__all__ = ["AccountLocked", "VerificationRequired"]


class VerificationRequired(Forbidden):
    slug, title = "verification-required", "A fresh caller verification is required"
