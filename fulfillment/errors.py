"""Errors of the fulfillment room with stable slugs."""

from __future__ import annotations

from core.errors import Conflict, DomainError


class BadPartnerSignature(DomainError):
    status, slug, title = 401, "bad-partner-signature", "Partner signature not valid"


class NoPartnerForDelivery(Conflict):
    slug, title = "no-partner", "No active partner for this delivery method"


class AlreadyReplayed(Conflict):
    slug, title = "already-replayed", "This dead letter was already replayed"
