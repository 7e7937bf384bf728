"""A carrier-billing charge in one statement on PostgreSQL: the fast path of
POST /v1/orders/{id}/payments {method: carrier_billing}.

Why it exists: the plain path (service.start_payment -> _charge_carrier -> on_captured ->
commerce.mark_paid) is about twenty round trips through the ORM's unit of work (flushes,
identity-map loads, refreshes), and a profile of bench/payments.py put nearly all of a charge's
time there: 0.03 of a trivial GET. Placing an order got to the database's own speed by saying
the same thing in fewer round trips (commerce/placing_pg.py); this does the same for a charge:
one read of the order, then one call of `payments_charge_carrier` (migrations 0015, 0017),
the statement its own transaction, with the Idempotency-Key's stored response inside it. Given
the request's key (`keyed`), the function also claims it, in that same transaction (0017): the
key's own autocommitted claim was a second commit per charge, and the claim and the charge now
commit or roll back together. A key seen before declines (nothing written), and the plain way
(core/idempotency.claim) then replays, refuses (422) or says 409, as it always did.

What stays the plain path's: every row is built here by the plain path's own builders
(service.payment_row, service.history_row, service.captured_books,
ledger.transaction_rows, carrier.movement_row, outbox.message_row: the ones the plain path's
ORM rows are made from), and the function takes the plain path's locks in the
plain path's order (the phone account, then the order) with its guards (no succeeded payment,
the conditional awaiting_payment -> paid, the conditional debit). It only takes the common
case: a customer's own order (or a booking agent's) awaiting payment, an account in its
currency with credit, commerce's own order port. Anything else returns None having written
nothing, and the caller runs the plain path, which answers as it always did (404, 402, 409,
the existing payment of a repeated key). tests/integration/payments/test_carrier_fast_path.py
checks both paths write the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.db import new_id
from core.drivers import DriverPool, to_json
from core.idempotency import KEY_TTL, Completion, KeyedRequest
from core.outbox import message_row, wake_relays
from core.principal import Principal
from payments import carrier, domain, ledger
from payments.orders import CommerceOrders, OrderInfo, actor_channel
from payments.ports import PaymentDeps
from payments.service import (
    captured_books,
    history_row,
    paid_memo,
    payment_row,
    request_key_for,
)

_ORDER = (
    "SELECT id, number, customer_id, status, currency, subtotal, booking_fee, delivery_fee,"
    " total, hold_expires_at, channel FROM orders WHERE id = $1"
)
_CHARGE = (
    "SELECT payments_charge_carrier($1::jsonb, $2::jsonb, $3::jsonb, $4::jsonb, $5::jsonb,"
    " $6::jsonb, $7::jsonb, $8, $9, $10::json, $11, $12::jsonb)"
)
_DECLINED = "HL002"  # payments_charge_carrier: not the common case, nothing written


@dataclass(frozen=True, slots=True)
class Charged:
    """The payment a charge wrote, its row (service.payment_row) read by attribute as a Payment
    is (the response's JSON, the memo and the books read it): a Payment instance built only to
    be serialized again cost more than all the other rows together."""

    id: str
    order_id: str
    order_number: str
    customer_id: str
    method: str
    status: str
    amount: int
    currency: str
    subtotal: int
    booking_fee: int
    delivery_fee: int
    refunded_amount: int
    disputed_amount: int
    request_key: str
    actor: str
    created_at: datetime
    updated_at: datetime
    channel: str | None


def applies(method: str, drivers: DriverPool | None, deps: PaymentDeps) -> bool:
    """Whether a new payment may try `charge` first: carrier billing, on PostgreSQL (asyncpg's
    pool), with commerce's own order port (the rows written for the order are commerce's)."""
    return (
        method == domain.CARRIER and drivers is not None and isinstance(deps.orders, CommerceOrders)
    )


async def charge(
    drivers: DriverPool,
    order_id: str,
    *,
    principal: Principal,
    request_key: str,
    now: datetime,
    respond: Callable[[Charged], Completion | None],
    keyed: KeyedRequest | None = None,
) -> Charged | None:
    """The succeeded carrier payment (its row), committed with `respond`'s stored response;
    None when this is not the common case (nothing written: run service.start_payment instead).

    Without `keyed`, `respond`'s Completion completes a key claimed beforehand. With it, the
    key is claimed here, as a new row of id `respond(...).record_id`, completed at once; a key
    already there declines (the caller then claims it the plain way and gets its answer)."""

    async def read(pg: Any) -> Any:
        return await pg.fetchrow(_ORDER, order_id)

    async def then(pg: Any, row: Any) -> Charged | None:
        return await _charge_on(pg, row, principal, request_key, now, respond, keyed)

    # the order read and the charge on one pooled connection (DriverPool.read_then)
    return await drivers.read_then(read, then)


async def _charge_on(
    pg: Any,
    row: Any,
    principal: Principal,
    request_key: str,
    now: datetime,
    respond: Callable[[Charged], Completion | None],
    keyed: KeyedRequest | None,
) -> Charged | None:
    import commerce

    if row is None or row["status"] != "awaiting_payment" or row["total"] <= 0:
        return None
    if principal.is_customer and row["customer_id"] != principal.id:
        return None  # the plain path answers 404, as for a missing order
    order = OrderInfo(**{k: row[k] for k in _ORDER_FIELDS}, id=row["id"], number=row["number"])
    key = request_key_for(domain.CARRIER, order.id, request_key)
    # Every row as the plain path's own row builders make it, as plain dicts: no ORM instance
    # is built only to be read back into JSON (that was most of this function's Python time).
    paid = payment_row(order, domain.CARRIER, key, principal.actor, now)
    history = history_row(
        paid["id"], paid["status"], domain.SUCCEEDED, actor=principal.actor,
        reason="carrier billing", now=now,
    )  # fmt: skip
    paid.update(status=domain.SUCCEEDED, updated_at=now)  # as service.moved does
    payment = Charged(**paid)
    memo = paid_memo(payment)
    books = [
        ledger.transaction_rows(
            kind,
            postings,
            currency=payment.currency,
            now=now,
            memo=memo,
            order_id=payment.order_id,
            payment_id=payment.id,
        )
        for kind, postings in captured_books(payment)
    ]
    movement = carrier.movement_row(
        "", -payment.amount, "charge", f"payment:{payment.id}", principal.actor, now
    )
    who, via = actor_channel(principal.actor)
    # the order_events row commerce.mark_paid records (commerce/service.py, _record)
    event = {
        "id": new_id(),
        "order_id": order.id,
        "from_status": "awaiting_payment",
        "to_status": "paid",
        "actor": who,
        "channel": via,
        "reason": memo[:500],
        "at": now,
    }
    message = message_row(commerce.TOPIC_ORDER_PAID, {"order_id": order.id}, now=now)
    done = respond(payment)
    claim = None
    if keyed is not None:
        assert done is not None, "a keyed charge stores its response"
        claim = to_json({"id": done.record_id, "scope": keyed.scope, "key": keyed.key,
                       "fingerprint": keyed.fingerprint, "created_at": now,
                       "expires_at": now + KEY_TTL})  # fmt: skip
    args = [
        to_json(paid),
        to_json(history),
        to_json(movement),
        to_json([txn for txn, _ in books]),
        to_json([e for _, entries in books for e in entries]),
        to_json(event),
        to_json(message),
        done.record_id if done and claim is None else None,
        done.status if done else None,
        done.body_json() if done else None,
        done.resource_id if done else None,
        claim,
    ]
    try:
        await pg.execute(_CHARGE, *args)
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == _DECLINED:
            return None
        raise
    wake_relays()  # the order.paid message is committed: the relay may send it now
    return payment


_ORDER_FIELDS = (
    "customer_id", "status", "currency", "subtotal", "booking_fee", "delivery_fee", "total",
    "hold_expires_at", "channel",
)  # fmt: skip
