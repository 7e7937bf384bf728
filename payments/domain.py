"""Pure payment rules: statuses, refund caps and the double-entry postings (no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.errors import InvalidTransition, ValidationFailed
from payments.errors import RefundExceedsCaptured

# Ledger accounts. Debit positive, credit negative; each transaction sums to zero.
RECEIVABLE = "customer_receivable"
GATEWAY_CLEARING = "gateway_clearing"
CARRIER_CLEARING = "carrier_clearing"
SALES = "sales_revenue"
BOOKING_FEES = "booking_fee_revenue"
DELIVERY_FEES = "delivery_fee_revenue"
REFUNDS = "refunds"
DISPUTES = "disputes"
GATEWAY_FEES = "gateway_fees"  # expense: what Stripe kept of a charge
ACCOUNTS = (
    RECEIVABLE,
    GATEWAY_CLEARING,
    CARRIER_CLEARING,
    SALES,
    BOOKING_FEES,
    DELIVERY_FEES,
    REFUNDS,
    DISPUTES,
    GATEWAY_FEES,
)

CARD = "card"
CARRIER = "carrier_billing"
METHODS = (CARD, CARRIER)

# Payment statuses and the moves between them.
PENDING = "pending"  # card: pay link sent, waiting for the customer
REQUIRES_ACTION = "requires_action"  # 3-D Secure in progress
PROCESSING = "processing"
UNKNOWN = "unknown"  # the gateway did not answer; the sweeper asks it
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"
FINAL = frozenset({SUCCEEDED, FAILED, CANCELED})
_MOVES: Mapping[str, frozenset[str]] = {
    PENDING: frozenset({REQUIRES_ACTION, PROCESSING, UNKNOWN, SUCCEEDED, FAILED, CANCELED}),
    REQUIRES_ACTION: frozenset({PROCESSING, UNKNOWN, SUCCEEDED, FAILED, CANCELED}),
    PROCESSING: frozenset({REQUIRES_ACTION, UNKNOWN, SUCCEEDED, FAILED, CANCELED}),
    UNKNOWN: frozenset({REQUIRES_ACTION, PROCESSING, SUCCEEDED, FAILED, CANCELED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELED: frozenset(),
}


# Money taken after we had given the attempt up (e.g. marked failed on a refused retry, or a
# later confirmation at Stripe): not a normal move, but it must be booked, never ignored.
LATE_SUCCESS_FROM = frozenset({FAILED, CANCELED})


def is_late_success(current: str, target: str) -> bool:
    return target == SUCCEEDED and current in LATE_SUCCESS_FROM


def can_move(current: str, target: str) -> bool:
    return target in _MOVES.get(current, frozenset())


def check_move(current: str, target: str) -> None:
    if not can_move(current, target):
        raise InvalidTransition(f"payment cannot go from {current} to {target}")


def status_from_intent(intent_status: str) -> str:
    """Our payment status for a Stripe PaymentIntent status."""
    return {
        "succeeded": SUCCEEDED,
        "requires_action": REQUIRES_ACTION,
        "requires_confirmation": PROCESSING,
        "requires_capture": PROCESSING,
        "processing": PROCESSING,
        "canceled": CANCELED,
        "requires_payment_method": FAILED,
    }.get(intent_status, PROCESSING)


# refunds.reason is varchar(300): a longer reason is refused, never cut to fit.
REFUND_REASON_MAX = 300


def check_refund_reason(reason: str) -> None:
    """422 naming `reason` when it does not fit its column, whoever asks (API, console)."""
    if len(reason) > REFUND_REASON_MAX:
        raise ValidationFailed.field("reason", f"at most {REFUND_REASON_MAX} characters")


def refund_amount(captured: int, refunded: int, requested: int | None) -> int:
    """The amount to refund now; refunded + amount never exceeds captured."""
    remaining = captured - refunded
    amount = remaining if requested is None else requested
    if amount <= 0:
        if requested is None:
            raise RefundExceedsCaptured("nothing left to refund on this order")
        raise ValidationFailed.field("amount", "must be a positive amount of minor units")
    if amount > remaining:
        raise RefundExceedsCaptured(
            f"refund of {amount} exceeds the {remaining} still refundable",
            extra={"refundable": remaining},
        )
    return amount


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: int  # debit > 0, credit < 0


def clearing_for(method: str) -> str:
    return GATEWAY_CLEARING if method == CARD else CARRIER_CLEARING


def sale_postings(subtotal: int, booking_fee: int, delivery_fee: int) -> list[Posting]:
    """The order is sold: the customer owes the total, revenue is recognised by kind."""
    total = subtotal + booking_fee + delivery_fee
    lines = [Posting(RECEIVABLE, total), Posting(SALES, -subtotal)]
    if booking_fee:
        lines.append(Posting(BOOKING_FEES, -booking_fee))
    if delivery_fee:
        lines.append(Posting(DELIVERY_FEES, -delivery_fee))
    return lines


def capture_postings(method: str, amount: int) -> list[Posting]:
    """Money collected: the gateway or carrier owes us; the customer no longer does."""
    return [Posting(clearing_for(method), amount), Posting(RECEIVABLE, -amount)]


def refund_postings(method: str, amount: int) -> list[Posting]:
    return [Posting(REFUNDS, amount), Posting(clearing_for(method), -amount)]


def dispute_postings(amount: int) -> list[Posting]:
    return [Posting(DISPUTES, amount), Posting(GATEWAY_CLEARING, -amount)]


def fee_postings(fee: int) -> list[Posting]:
    """The gateway kept its fee: an expense, and the gateway owes us that much less."""
    return [Posting(GATEWAY_FEES, fee), Posting(GATEWAY_CLEARING, -fee)]


def is_balanced(postings: Iterable[Posting]) -> bool:
    return sum(p.amount for p in postings) == 0
