"""Errors of the payments room with stable problem slugs."""

from __future__ import annotations

from core.errors import Conflict, DomainError, PaymentRequired, UpstreamUnavailable


class InsufficientCredit(PaymentRequired):
    slug, title = "insufficient-credit", "Balance and credit limit do not cover the charge"


class RefundExceedsCaptured(Conflict):
    slug, title = "refund-exceeds-captured", "Refunds would exceed what was captured"


class AlreadyPaid(Conflict):
    slug, title = "already-paid", "The order is already paid"


class PayLinkExpired(DomainError):
    status, slug, title = 410, "pay-link-expired", "This pay link has expired"


class CardDeclined(PaymentRequired):
    slug, title = "card-declined", "The card was declined"


class PaymentOutcomeUnknown(UpstreamUnavailable):
    slug, title = "payment-outcome-unknown", "The gateway did not answer; the outcome is checked"


class BadSignature(DomainError):
    status, slug, title = 400, "bad-signature", "Webhook signature is not valid"


class NotAnEvent(DomainError):
    """The signature held, but the body is no Stripe event: the sender holds our secret, so
    telling it the signature was wrong would send it looking in the wrong place."""

    status, slug, title = 400, "not-an-event", "The signed body is not a Stripe event"


class OrderNotPayable(Conflict):
    slug, title = "order-not-payable", "The order was cancelled or expired; it cannot be paid"

    @classmethod
    def for_order(cls, number: str, status: str) -> OrderNotPayable:
        return cls(f"order {number} is {status}; it can no longer be paid")
