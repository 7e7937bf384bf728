"""Payment use cases: start a payment, and the one settle function that the charge, the pay
page's return, the webhook and the sweeper all go through (payments/charges.py asks the
gateway, outside any transaction, and hands the answer here).

`settle` runs inside the caller's short transaction and locks the payment row (FOR UPDATE on
PostgreSQL), so two deliveries of the same outcome are serialised and the second finds the
work done. It never calls the network: an auto refund is only reserved here and sent by the
caller after the commit (`refunds.send_auto_refund`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import new_id
from core.drivers import as_rows
from core.errors import InvalidTransition, ValidationFailed
from core.principal import Principal
from payments import carrier, domain, ledger
from payments.errors import AlreadyPaid, PayLinkExpired
from payments.gateway import Intent
from payments.incidents import incident
from payments.models import Payment, PaymentHistory
from payments.orders import OrderInfo
from payments.payability import payment_for_token
from payments.ports import PaymentDeps, lock_payment, require_gateway
from payments.refunds import refund_payment


def move(
    session: AsyncSession,
    payment: Payment,
    target: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    late_success: bool = False,
) -> None:
    session.add(
        moved(payment, target, actor=actor, reason=reason, now=now, late_success=late_success)
    )


def moved(
    payment: Payment,
    target: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    late_success: bool = False,
) -> PaymentHistory:
    """Move the payment to `target` (if the domain allows) and return its history row."""
    row = PaymentHistory(
        **history_row(
            payment.id, payment.status, target, actor=actor, reason=reason, now=now,
            late_success=late_success,
        )
    )  # fmt: skip
    payment.status = target
    payment.updated_at = now
    return row


def history_row(
    payment_id: str,
    status: str,
    target: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    late_success: bool = False,
) -> dict[str, Any]:
    """`moved`'s history row as column values by name, its one source (payments/carrier_pg.py
    hands it to its PostgreSQL function as it is); refuses a move the domain does not allow."""
    if not (late_success and domain.is_late_success(status, target)):
        domain.check_move(status, target)
    return {"id": new_id(), "payment_id": payment_id, "at": now, "actor": actor,
            "from_status": status, "to_status": target, "reason": reason[:300]}  # fmt: skip


def request_key_for(method: str, order_id: str, request_key: str) -> str:
    """The payment's own key: one attempt per method, order and Idempotency-Key."""
    return f"{method}:{order_id}:{request_key}"


def new_payment(
    order: OrderInfo, method: str, request_key: str, actor: str, now: datetime
) -> Payment:
    return Payment(**payment_row(order, method, request_key, actor, now))


def payment_row(
    order: OrderInfo, method: str, request_key: str, actor: str, now: datetime
) -> dict[str, Any]:
    """`new_payment`'s row as column values by name, its one source (payments/carrier_pg.py
    hands it to its PostgreSQL function as it is)."""
    return {"id": new_id(), "order_id": order.id, "order_number": order.number,
            "customer_id": order.customer_id, "method": method, "status": domain.PENDING,
            "amount": order.total, "currency": order.currency, "subtotal": order.subtotal,
            "booking_fee": order.booking_fee, "delivery_fee": order.delivery_fee,
            "refunded_amount": 0, "disputed_amount": 0, "request_key": request_key,
            "actor": actor, "created_at": now, "updated_at": now,
            "channel": order.channel}  # fmt: skip


async def _ensure_payable(session: AsyncSession, order: OrderInfo) -> None:
    paid = await session.scalar(
        select(Payment.id).where(Payment.order_id == order.id, Payment.status == domain.SUCCEEDED)
    )
    if paid is not None or order.status in {"paid", "fulfilling", "fulfilled"}:
        raise AlreadyPaid(f"order {order.number} is already paid")
    if order.status != "awaiting_payment":
        raise InvalidTransition(f"order {order.number} is {order.status}; it cannot be paid")
    if order.total <= 0:
        raise ValidationFailed.field("order", "has nothing to pay")


async def start_payment(
    session: AsyncSession,
    deps: PaymentDeps,
    order_id: str,
    method: str,
    *,
    principal: Principal,
    request_key: str,
    now: datetime,
) -> Payment:
    """`card`: a pay link by SMS; `carrier_billing`: charged now (402 if the account cannot)."""
    if method not in domain.METHODS:
        raise ValidationFailed.field("method", "must be card or carrier_billing")
    order = await deps.orders.get(session, order_id, principal)
    key = request_key_for(method, order.id, request_key)
    existing = await session.scalar(select(Payment).where(Payment.request_key == key))
    if existing is not None:
        return existing
    if method == domain.CARRIER:
        # Charged right here, so two requests with two keys (a double click) would both pass
        # the check below before either commits. Taking the account row first makes the
        # second wait, and its check then sees the first one's committed payment.
        await carrier.lock_account(session, order.customer_id)
    await _ensure_payable(session, order)
    payment = new_payment(order, method, key, principal.actor, now)
    session.add(payment)
    await session.flush()
    if method == domain.CARRIER:
        return await _charge_carrier(session, deps, payment, principal.actor, now)
    if order.hold_expires_at <= now:
        raise InvalidTransition("the order's hold has lapsed; it cannot be paid")
    require_gateway(deps)
    payment.pay_token = secrets.token_urlsafe(32)
    payment.pay_token_expires_at = order.hold_expires_at
    if deps.notifier is not None and order.customer_phone:
        major, minor = divmod(order.total, 100)
        body = (
            f"Hotline order {order.number}: pay {major}.{minor:02d} {order.currency} "
            f"at {pay_url(deps, payment)}"
        )
        await deps.notifier.send(
            session, order.customer_phone, body, purpose="pay_link", order_id=order.id
        )
    return payment


def pay_url(deps: PaymentDeps, payment: Payment) -> str | None:
    if not payment.pay_token:
        return None
    return f"{deps.public_base_url.rstrip('/')}/pay/{payment.pay_token}"


async def _charge_carrier(
    session: AsyncSession, deps: PaymentDeps, payment: Payment, actor: str, now: datetime
) -> Payment:
    account = await carrier.debit(
        session,
        payment.customer_id,
        payment.amount,
        currency=payment.currency,
        reference=f"payment:{payment.id}",
        actor=actor,
        now=now,
    )
    payment.phone_account_id = account.id
    move(session, payment, domain.SUCCEEDED, actor=actor, reason="carrier billing", now=now)
    await on_captured(session, deps, payment, actor=actor, now=now)
    return payment


class PaymentTerms(Protocol):
    """What `paid_memo` and `captured_books` read of a payment: a Payment, or the fast path's
    row read by attribute (payments/carrier_pg.Charged), which builds no ORM instance."""

    @property
    def order_number(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def subtotal(self) -> int: ...
    @property
    def booking_fee(self) -> int: ...
    @property
    def delivery_fee(self) -> int: ...


def paid_memo(payment: PaymentTerms) -> str:
    return f"order {payment.order_number} paid by {payment.method}"


def captured_books(payment: PaymentTerms) -> list[tuple[str, list[domain.Posting]]]:
    """What a capture books: the sale (what the order is worth), then the capture (the money)."""
    return [
        ("sale", domain.sale_postings(payment.subtotal, payment.booking_fee, payment.delivery_fee)),
        ("capture", domain.capture_postings(payment.method, payment.amount)),
    ]


async def on_captured(
    session: AsyncSession, deps: PaymentDeps, payment: Payment, *, actor: str, now: datetime
) -> None:
    """Book the sale and the capture, then tell commerce; refund if the order cannot take it."""
    memo = paid_memo(payment)
    for kind, postings in captured_books(payment):
        await ledger.post(
            session,
            kind,
            postings,
            currency=payment.currency,
            now=now,
            memo=memo,
            order_id=payment.order_id,
            payment_id=payment.id,
        )
    other = await session.scalar(
        select(Payment.id).where(
            Payment.order_id == payment.order_id,
            Payment.status == domain.SUCCEEDED,
            Payment.id != payment.id,
        )
    )
    if other is not None:
        reason = f"order already paid by payment {other}"
    else:
        outcome = await deps.orders.mark_paid(
            session, payment.order_id, actor=actor, channel="web", reason=memo, now=now
        )
        if outcome == "paid":
            return
        if outcome == "already_paid":
            # This payment's capture is booked once (its row is locked and now final), so the
            # order was paid by something else: typically a second payment that succeeded
            # concurrently, committed while we waited for commerce's lock on the order.
            other = await session.scalar(
                select(Payment.id).where(
                    Payment.order_id == payment.order_id,
                    Payment.status == domain.SUCCEEDED,
                    Payment.id != payment.id,
                )
            )
            reason = f"order already paid by {f'payment {other}' if other else 'another payment'}"
        else:
            reason = f"order cannot take this payment ({outcome}): hold lapsed and seats gone"
    incident(session, payment, "auto_refund", reason, now)
    await refund_payment(
        session,
        payment,
        payment.amount - payment.refunded_amount,
        reason=reason,
        ticket_id=None,
        actor="system:payments",
        request_key=f"auto:{payment.id}",
        now=now,
    )
    session.info.setdefault(AUTO_REFUNDS, set()).add(payment.id)


# session.info key: the payments whose automatic refund this session reserved, so a caller
# that settles (payments/webhooks.py) knows after its commit that there is one to send.
AUTO_REFUNDS = "payments.auto_refunds"


async def settle(
    session: AsyncSession,
    deps: PaymentDeps,
    payment_id: str,
    intent: Intent,
    *,
    actor: str,
    now: datetime,
) -> Payment:
    """Bring our payment to what the PaymentIntent says; a repeat changes nothing."""
    payment = await lock_payment(session, payment_id)
    if payment.intent_id is None:
        payment.intent_id = intent.id
    elif payment.intent_id != intent.id:
        return payment
    target = domain.status_from_intent(intent.status)
    late = domain.is_late_success(payment.status, target)
    if payment.status == target or (payment.status in domain.FINAL and not late):
        await record_gateway_facts(session, payment, intent, now)
        return payment
    if target == domain.SUCCEEDED and (
        intent.amount != payment.amount or intent.currency != payment.currency
    ):
        incident(session, payment, "amount_mismatch", f"intent {intent.id} {intent.amount}", now)
        return payment
    if late:  # the money was taken after all: book it; on_captured refunds if it cannot stay
        incident(
            session,
            payment,
            "late_success",
            f"intent {intent.id} succeeded after the payment was {payment.status}",
            now,
        )
        payment.failure_reason = None
    move(
        session,
        payment,
        target,
        actor=actor,
        reason=f"intent {intent.status}",
        now=now,
        late_success=late,
    )
    if target == domain.SUCCEEDED:
        await on_captured(session, deps, payment, actor=actor, now=now)
        await record_gateway_facts(session, payment, intent, now)
    return payment


async def record_gateway_facts(
    session: AsyncSession, payment: Payment, intent: Intent, now: datetime
) -> None:
    """Keep the charge and balance-transaction ids of a captured payment, and book Stripe's
    fee once, when the answer carries it (else the Stripe import books it)."""
    if payment.status != domain.SUCCEEDED or intent.id != payment.intent_id:
        return
    payment.charge_id = payment.charge_id or intent.charge_id
    payment.balance_transaction_id = payment.balance_transaction_id or intent.balance_transaction_id
    if intent.fee is None or payment.fee_amount is not None:
        return
    payment.fee_amount = intent.fee
    if intent.fee:
        await ledger.post(
            session,
            "gateway_fee",
            domain.fee_postings(intent.fee),
            currency=payment.currency,
            now=now,
            memo=f"stripe fee, order {payment.order_number}",
            order_id=payment.order_id,
            payment_id=payment.id,
        )


async def payment_by_token(session: AsyncSession, token: str, now: datetime) -> Payment:
    """The pay link's attempt while the link is live (PayLinkExpired once it lapsed unused)."""
    return live_link(await payment_for_token(session, token), now)


def live_link(payment: Payment, now: datetime) -> Payment:
    if (
        payment.status not in domain.FINAL
        and payment.pay_token_expires_at is not None
        and payment.pay_token_expires_at <= now
        and payment.intent_id is None
    ):
        raise PayLinkExpired("this pay link has expired; ask for a new one")
    return payment


async def payments_for_orders(
    session: AsyncSession, order_ids: list[str]
) -> dict[str, list[Payment]]:
    """Payment attempts of several orders in one query (a caller's history on one screen)."""
    out: dict[str, list[Payment]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        rows = await session.scalars(
            select(Payment).where(Payment.order_id.in_(order_ids)).order_by(Payment.created_at)
        )
        for p in rows:
            out[p.order_id].append(p)
    return out


async def payments_for_orders_on(driver: Any, order_ids: list[str]) -> dict[str, list[Any]]:
    """`payments_for_orders` on an asyncpg connection (core.drivers), the columns a history
    line shows, as rows read by attribute: the caller's record reads them on every open."""
    out: dict[str, list[Any]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        for p in as_rows(
            await driver.fetch(
                "SELECT id, order_id, method, status, amount, currency, created_at FROM payments"
                " WHERE order_id = ANY($1::text[]) ORDER BY created_at",
                order_ids,
            )
        ):
            out[p.order_id].append(p)
    return out


async def payments_for_order(session: AsyncSession, order_id: str) -> list[Payment]:
    rows = await session.scalars(
        select(Payment).where(Payment.order_id == order_id).order_by(Payment.created_at)
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """What the shop's order page shows of one attempt."""

    method: str
    status: str
    amount: int
    currency: str


# payments_for_order's read for the shop's order page on asyncpg (core.drivers): only the
# columns the page shows, no ORM entities (commerce.views_pg says why; tested against it).
_PAYMENT_LINES = (
    "SELECT method, status, amount, currency FROM payments WHERE order_id = $1 ORDER BY created_at"
)


async def payment_lines_on(driver: Any, order_id: str) -> list[PaymentLine]:
    return [PaymentLine(*row) for row in await driver.fetch(_PAYMENT_LINES, order_id)]
