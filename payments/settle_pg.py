"""A Stripe webhook's settle in one statement on PostgreSQL: the fast path of
`payment_intent.succeeded` in payments/webhooks.py.

Why it exists: after the gateway re-fetch (which stays: the event body is never trusted), the
plain path (_first_time, then service.settle -> lock_payment -> on_captured -> ledger.post x2
-> commerce.mark_paid -> record_gateway_facts) is a dozen round trips through the ORM's unit
of work, and a re-delivery for a payment already settled still costs four. A profile of
bench/payments.py put the webhook's database time there, at 0.04 of a trivial GET. Here the
rows are built in memory by the plain path's own builders (service.moved, service.captured_books,
ledger.transaction, outbox.new_message) from the payment row read before the re-fetch, and
`payments_settle_card` (migration 0017) writes them in one call, its own transaction, under
the plain path's locks in its order (the receipt, the payment's row, the order's conditional
UPDATE) with its guards (the payment still as read, no other succeeded payment, the order
still awaiting payment).

It takes only two cases: the first success of a card payment whose intent succeeded with the
payment's amount (no late success, no fee booked yet; the intent recorded on it if it held
none, as settle does), and a re-delivery for a payment settled
before whose gateway facts are recorded (nothing to write but the receipt). Anything else
(another event type or intent status, a payment that changed since it was read, an order no
longer awaiting payment: the auto-refund and rehold cases) returns None having written
nothing, and the caller runs the plain path, which decides as it always did.
tests/integration/payments/test_settle_fast_path.py checks both paths write the same rows.

A third case needs no re-fetch at all: a PaymentIntent event for a payment settled for good
(`look_up`, tests/integration/payments/test_webhook_no_refetch.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.db import new_id
from core.drivers import DriverPool, column_values, to_json
from core.outbox import new_message, wake_relays
from payments import domain, ledger
from payments.gateway import Intent
from payments.models import Payment
from payments.orders import actor_channel
from payments.service import captured_books, moved, paid_memo

_SETTLE = (
    "SELECT payments_settle_card($1::jsonb, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb,"
    " $6::jsonb, $7::jsonb)"
)
_DECLINED = "HL002"  # payments_settle_card: not the common case, nothing written
ACTOR = "system:stripe-webhook"
_OPEN = frozenset({domain.PENDING, domain.REQUIRES_ACTION, domain.PROCESSING, domain.UNKNOWN})


def _repeat(payment: Payment, intent: Intent) -> bool:
    """Settled before and record_gateway_facts would change nothing."""
    return (
        payment.status == domain.SUCCEEDED
        and bool(payment.charge_id or not intent.charge_id)
        and bool(payment.balance_transaction_id or not intent.balance_transaction_id)
        and (intent.fee is None or payment.fee_amount is not None)
    )


def _first(payment: Payment, intent: Intent) -> bool:
    """The first success of a card attempt, as settle takes it without an incident."""
    return (
        payment.method == domain.CARD
        and payment.status in _OPEN
        and payment.fee_amount is None
        and intent.amount == payment.amount
        and intent.currency == payment.currency
    )


async def settle(
    drivers: DriverPool,
    event_id: str,
    kind: str,
    payment: Payment,
    intent: Intent,
    *,
    now: datetime,
) -> str | None:
    """'settled' or 'duplicate' as handle_event answers them, with everything committed;
    None when this is not the common case (nothing written: run the plain path instead).
    `payment` is a detached copy of the row read before the re-fetch; it is not changed."""
    if kind != "payment_intent.succeeded" or intent.status != "succeeded":
        return None
    if payment.intent_id not in (None, intent.id):
        return None  # settle leaves a payment holding another intent as it is
    receipt = _receipt(event_id, kind, now)
    expected = _expected(payment)
    args: list[Any] = [receipt, None, None, None, None, None, None]
    if _repeat(payment, intent) and payment.intent_id == intent.id:
        args[1] = to_json(expected)
    elif _first(payment, intent):
        args[1:] = _first_rows(payment, intent, expected, now)
    else:
        return None
    said = await _settle(drivers, args)
    if args[2] is not None and said == "settled":
        wake_relays()  # the order.paid message is committed: the relay may send it now
    return said


def settled_for_good(payment: Payment, intent_id: str) -> bool:
    """Whether no answer from Stripe about this PaymentIntent could change our payment: it
    succeeded with this very intent and its gateway facts are all recorded.

    A succeeded PaymentIntent never changes status again (refunds and disputes come as other
    objects: charge.refunded, charge.dispute.created), and service.settle leaves a payment in
    a final status as it is unless the money came late to a failed or cancelled one; its
    record_gateway_facts only fills a charge id, balance transaction id or fee still missing.
    So for a PaymentIntent event (any of them: a late `payment_failed` too) the plain path,
    re-fetch included, would write nothing but the receipt and answer 'settled'."""
    return (
        payment.status == domain.SUCCEEDED
        and payment.intent_id == intent_id
        and payment.charge_id is not None
        and payment.balance_transaction_id is not None
        and payment.fee_amount is not None
    )


async def look_up(
    drivers: DriverPool, event_id: str, kind: str, payment_id: str, intent_id: str, *,
    now: datetime,
) -> tuple[str | None, Payment | None]:  # fmt: skip
    """The first look of a delivery naming our payment (its metadata), in one round trip:
    ('duplicate', None) when its event id was recorded before; ('settled', None) when it is a
    PaymentIntent event for a payment `settled_for_good` (the receipt recorded now, no
    re-fetch); else (None, a detached copy of the payment's row, or None if there is none).

    Why it exists: most deliveries are re-deliveries for payments long settled, and each
    paid a gateway round trip (half the webhook's CPU in a profile of bench/payments.py) only
    to learn what our row already says; then a look-up and a receipt apart were two round
    trips (the look-up through the ORM's connection, a visible share of what was left). The
    read and the receipt are one statement, so no change to the row can come between them:
    the receipt is its only write, and a refund committed meanwhile would not have changed
    the plain path's answer either. `_LOOK_UP` says `settled_for_good` in SQL;
    tests/integration/payments/test_webhook_no_refetch.py holds them to the same cases."""
    async with drivers.connection() as pg:
        row = await pg.fetchrow(
            _LOOK_UP, event_id, payment_id, kind, now, kind.startswith("payment_intent."),
            intent_id,
        )  # fmt: skip
    if row["answer"] is not None:
        return row["answer"], None
    if row["id"] is None:
        return None, None
    return None, Payment(**{c.key: row[c.name] for c in _PAYMENT.columns})


_PAYMENT: Any = Payment.__table__
# $1 event id, $2 payment id, $3 event type, $4 received at, $5 a PaymentIntent event, $6 its
# intent. `for_good` is `settled_for_good` in SQL. Two racing deliveries of one event: the
# second's insert does nothing (the key) and it answers 'duplicate', as _first_time would.
_LOOK_UP = """
WITH seen AS (
    SELECT EXISTS (SELECT 1 FROM stripe_webhook_receipts WHERE event_id = $1) AS seen
), named AS (
    SELECT *, $5 AND status = 'succeeded' AND intent_id = $6 AND charge_id IS NOT NULL
              AND balance_transaction_id IS NOT NULL AND fee_amount IS NOT NULL AS for_good
    FROM payments WHERE id = $2
), recorded AS (
    INSERT INTO stripe_webhook_receipts (event_id, type, received_at)
    SELECT $1, $3, $4 FROM seen, named WHERE NOT seen.seen AND named.for_good
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
)
SELECT CASE WHEN seen.seen THEN 'duplicate'
            WHEN EXISTS (SELECT 1 FROM recorded) THEN 'settled'
            WHEN named.for_good THEN 'duplicate'  -- a racing delivery's insert won
       END AS answer,
       named.*
FROM seen LEFT JOIN named ON true
"""


def _receipt(event_id: str, kind: str, now: datetime) -> str:
    return to_json({"event_id": event_id, "type": kind, "received_at": now})


def _expected(payment: Payment) -> dict[str, Any]:
    """The payment's row as read: the function declines if it changed since."""
    return {
        "id": payment.id,
        "expected_status": payment.status,
        "intent_id": payment.intent_id,
        "charge_id": payment.charge_id,
        "balance_transaction_id": payment.balance_transaction_id,
        "fee_amount": payment.fee_amount,
    }


async def _settle(drivers: DriverPool, args: list[Any]) -> str | None:
    async with drivers.connection() as pg:
        try:
            said = await pg.fetchval(_SETTLE, *args)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == _DECLINED:
                return None
            raise
    return str(said)


def _first_rows(row: Payment, intent: Intent, expected: dict[str, Any], now: datetime) -> list[str]:
    import commerce

    payment = Payment(**{c: getattr(row, c) for c in _COPIED})  # moved() changes its status
    history = moved(
        payment, domain.SUCCEEDED, actor=ACTOR, reason=f"intent {intent.status}", now=now
    )
    memo = paid_memo(payment)
    books = list(captured_books(payment))
    if intent.fee:  # record_gateway_facts books Stripe's fee once, when the answer has it
        books.append(("gateway_fee", domain.fee_postings(intent.fee)))
    ledgers = [
        ledger.transaction(
            kind,
            postings,
            currency=payment.currency,
            now=now,
            memo=memo if kind != "gateway_fee" else f"stripe fee, order {payment.order_number}",
            order_id=payment.order_id,
            payment_id=payment.id,
        )
        for kind, postings in books
    ]
    who, via = actor_channel(ACTOR)
    event = commerce.OrderEvent(
        id=new_id(), order_id=payment.order_id, from_status="awaiting_payment", to_status="paid",
        actor=who, channel=via, reason=memo[:500], at=now,
    )  # fmt: skip
    message = new_message(commerce.TOPIC_ORDER_PAID, {"order_id": payment.order_id}, now=now)
    facts = {
        **expected,
        "set_intent_id": intent.id,  # settle records the intent on a payment holding none
        "charge_id": intent.charge_id,
        "balance_transaction_id": intent.balance_transaction_id,
        "fee_amount": intent.fee,
    }
    return [
        to_json(facts),
        to_json(column_values(history)),
        to_json([column_values(txn) for txn, _ in ledgers]),
        to_json([column_values(e) for _, entries in ledgers for e in entries]),
        to_json(column_values(event)),
        to_json(column_values(message)),
    ]


_COPIED = (
    "id", "order_id", "order_number", "customer_id", "method", "status", "amount", "currency",
    "subtotal", "booking_fee", "delivery_fee", "intent_id",
)  # fmt: skip
