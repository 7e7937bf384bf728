"""Errors of the fulfillment room with stable slugs."""

from __future__ import annotations

from core.errors import Conflict, DomainError


class BadPartnerSignature(DomainError):
    status, slug, title = 401, "bad-partner-signature", "Partner signature not valid"


class MalformedCallback(DomainError):
    """A signed callback whose body is not JSON, or nests past the decoder: a bad request
    (as for every JSON body, README "Bad input"), not a value to name (422)."""

    status, slug, title = 400, "bad-request", "Bad request"


class NoPartnerForDelivery(Conflict):
    slug, title = "no-partner", "No active partner for this delivery method"


class AlreadyReplayed(Conflict):
    slug, title = "already-replayed", "This dead letter was already replayed"
