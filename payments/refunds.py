"""Refunds, full and partial, in three steps so no gateway call runs inside a transaction:
reserve (the payment row locked, the amount added to `refunded_amount` so refunded <= captured
holds whatever the gateway allows, a `pending` refund row) and commit; ask the gateway with the
refund's own idempotency key and no transaction open; record the answer in a new short
transaction. A timeout leaves the refund `unknown` (a crash leaves it `pending`): the sweeper
asks again with the same key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import IdempotencyConflict, NotFound, ValidationFailed
from core.text import check_plain_text
from payments import carrier, domain, ledger
from payments.errors import RefundExceedsCaptured
from payments.gateway import GatewayError, GatewayUnknown
from payments.models import Payment, Refund
from payments.ports import PaymentDeps, lock_payment, require_gateway

log = structlog.get_logger("hotline.payments.refunds")
OPEN = ("pending", "unknown")  # asked, or to be asked, at the gateway


async def refund_order(
    sessions: async_sessionmaker[AsyncSession],
    deps: PaymentDeps,
    order_id: str,
    amount: int | None,
    *,
    reason: str,
    ticket_id: str | None,
    actor: str,
    request_key: str,
    now: datetime,
) -> Refund:
    """Reserve and commit, then ask the gateway (422 when it refuses: nothing is kept)."""
    async with sessions() as session, session.begin():
        refund = await reserve_order_refund(
            session,
            deps,
            order_id,
            amount,
            reason=reason,
            ticket_id=ticket_id,
            actor=actor,
            request_key=request_key,
            now=now,
        )
    if refund.status in OPEN:
        refund = await send_refund(sessions, deps, refund.id, now=now, first_try=True)
    return refund


async def reserve_order_refund(
    session: AsyncSession,
    deps: PaymentDeps,
    order_id: str,
    amount: int | None,
    *,
    reason: str,
    ticket_id: str | None,
    actor: str,
    request_key: str,
    now: datetime,
) -> Refund:
    """Reserve `amount` (all that is left when None) of what the order's payment captured: a
    `pending` refund on the locked payment (carrier billing, with no network, completes)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.field("reason", "a refund needs a reason")
    domain.check_refund_reason(reason)
    check_plain_text("reason", reason, lines=True)
    key = f"order:{order_id}:{request_key}"
    existing = await session.scalar(select(Refund).where(Refund.request_key == key))
    if existing is not None:
        if amount is not None and existing.amount != amount:
            raise IdempotencyConflict("this Idempotency-Key was used for another refund")
        return existing
    ids = list(
        await session.scalars(
            select(Payment.id)
            .where(Payment.order_id == order_id, Payment.status == domain.SUCCEEDED)
            .order_by(Payment.created_at)
        )
    )
    if not ids:
        raise NotFound("this order has no captured payment to refund")
    payments = [await lock_payment(session, pid) for pid in ids]
    captured = sum(p.amount for p in payments)
    refunded = sum(p.refunded_amount for p in payments)
    to_refund = domain.refund_amount(captured, refunded, amount)
    target = next((p for p in payments if p.amount - p.refunded_amount >= to_refund), None)
    if target is None:
        raise RefundExceedsCaptured("no single payment covers this amount; refund in parts")
    refund = await refund_payment(
        session,
        target,
        to_refund,
        reason=reason,
        ticket_id=ticket_id,
        actor=actor,
        request_key=key,
        now=now,
    )
    if refund.status == "succeeded":
        await deps.orders.refunded(
            session, order_id, actor=actor, reason=f"refund {refund.amount}: {reason}", now=now
        )
    return refund


async def refund_payment(
    session: AsyncSession,
    payment: Payment,
    amount: int,
    *,
    reason: str,
    ticket_id: str | None,
    actor: str,
    request_key: str,
    now: datetime,
) -> Refund:
    """Reserve the amount on the (locked) payment; carrier billing moves the money back now, a
    card refund stays `pending` until `send_refund` (after the caller commits)."""
    domain.refund_amount(payment.amount, payment.refunded_amount, amount)
    domain.check_refund_reason(reason)  # the automatic refunds' reasons too, before any write
    payment.refunded_amount += amount
    payment.updated_at = now
    refund = Refund(
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=amount,
        currency=payment.currency,
        status="pending",
        reason=reason,
        ticket_id=ticket_id,
        request_key=request_key,
        actor=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    await session.flush()
    if payment.method == domain.CARRIER:
        assert payment.phone_account_id is not None
        await carrier.credit_back(
            session,
            payment.phone_account_id,
            amount,
            reference=f"refund:{refund.id}",
            actor=actor,
            now=now,
        )
        await _succeeded(session, payment, refund, None, now)
    return refund


async def send_refund(
    sessions: async_sessionmaker[AsyncSession],
    deps: PaymentDeps,
    refund_id: str,
    *,
    now: datetime,
    first_try: bool = False,
) -> Refund:
    """Ask the gateway about an open card refund (again, with the same key) outside any
    transaction, then record the answer. A refusal on the first try is a 422 and the
    reservation is dropped as if never made; later (the sweeper, an auto refund) it is
    recorded `failed` and the amount released."""
    async with sessions() as session:
        refund = await session.get_one(Refund, refund_id)
        payment = await session.get_one(Payment, refund.payment_id)
    if refund.status not in OPEN or payment.method != domain.CARD:
        return refund
    assert payment.intent_id is not None
    outcome: Literal["succeeded", "unknown", "refused"]
    ref = detail = txn = None
    try:
        result = await require_gateway(deps).refund(
            payment.intent_id,
            amount=refund.amount,
            metadata={
                "order_id": payment.order_id,
                "payment_id": payment.id,
                "refund_id": refund.id,
            },
            idempotency_key=f"refund:{refund.id}",
        )
        outcome, ref, txn = "succeeded", result.id, result.balance_transaction_id
    except GatewayUnknown:
        outcome = "unknown"
    except GatewayError as exc:
        outcome, detail = "refused", str(exc)
    async with sessions() as session, session.begin():
        payment = await lock_payment(session, refund.payment_id)  # every refund move holds it
        refund = await session.get_one(Refund, refund_id, populate_existing=True)
        if refund.status not in OPEN:  # another sender recorded it first
            return refund
        if outcome == "succeeded":
            refund.balance_transaction_id = txn  # the gateway's fact, for reconciliation
            await _succeeded(session, payment, refund, ref, now)
            if refund.request_key.startswith("order:"):
                await deps.orders.refunded(
                    session,
                    payment.order_id,
                    actor=refund.actor,
                    reason=f"refund {refund.amount}: {refund.reason}",
                    now=now,
                )
        elif outcome == "unknown":
            refund.status, refund.updated_at = "unknown", now
        else:
            payment.refunded_amount -= refund.amount  # release the reservation
            payment.updated_at = now
            if first_try and refund.status == "pending":
                await session.delete(refund)
            else:
                refund.status, refund.updated_at = "failed", now
                log.error("gateway refused a refund", refund_id=refund.id, error=detail)
    if outcome == "refused" and first_try:
        raise ValidationFailed.field("amount", f"the gateway refused the refund: {detail}")
    return refund


async def send_auto_refund(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, payment_id: str, now: datetime
) -> None:
    """After a settle committed: send the refund `on_captured` reserved, if it did."""
    async with sessions() as session:
        rid = await session.scalar(
            select(Refund.id).where(
                Refund.request_key == f"auto:{payment_id}", Refund.status.in_(OPEN)
            )
        )
    if rid is not None:
        await send_refund(sessions, deps, rid, now=now)


async def _succeeded(
    session: AsyncSession, payment: Payment, refund: Refund, ref: str | None, now: datetime
) -> None:
    refund.status, refund.gateway_ref, refund.updated_at = "succeeded", ref, now
    await ledger.post(
        session,
        "refund",
        domain.refund_postings(payment.method, refund.amount),
        currency=payment.currency,
        now=now,
        memo=f"refund: {refund.reason}",
        order_id=payment.order_id,
        payment_id=payment.id,
        refund_id=refund.id,
    )


async def record_external_refund(
    session: AsyncSession, payment: Payment, gateway_refunded: int, *, now: datetime
) -> Refund | None:
    """`charge.refunded` for money refunded outside Hotline (e.g. the Stripe dashboard)."""
    extra = gateway_refunded - payment.refunded_amount
    if extra <= 0:
        return None
    extra = min(extra, payment.amount - payment.refunded_amount)
    if extra <= 0:
        return None
    payment.refunded_amount += extra
    refund = Refund(
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=extra,
        currency=payment.currency,
        status="pending",
        reason="refunded at the gateway",
        ticket_id=None,
        request_key=f"external:{payment.id}:{gateway_refunded}",
        actor="system:stripe",
        created_at=now,
        updated_at=now,
    )
    session.add(refund)
    await session.flush()
    await _succeeded(session, payment, refund, None, now)
    return refund
