"""Refunds, full and partial. We enforce refunded <= captured ourselves (the payment row is
locked and the amount reserved before the gateway is asked), whatever the gateway allows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import IdempotencyConflict, NotFound, ValidationFailed
from payments import carrier, domain, ledger
from payments.errors import RefundExceedsCaptured
from payments.gateway import GatewayError, GatewayUnknown
from payments.models import Payment, Refund
from payments.ports import PaymentDeps, lock_payment, require_gateway


async def refund_order(
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
    """Refund `amount` (all that is left when None) of what the order's payment captured."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed.field("reason", "a refund needs a reason")
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
        deps,
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
    deps: PaymentDeps,
    payment: Payment,
    amount: int,
    *,
    reason: str,
    ticket_id: str | None,
    actor: str,
    request_key: str,
    now: datetime,
) -> Refund:
    """Reserve the amount on the (locked) payment, then move the money back."""
    domain.refund_amount(payment.amount, payment.refunded_amount, amount)
    payment.refunded_amount += amount
    payment.updated_at = now
    refund = Refund(
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=amount,
        currency=payment.currency,
        status="pending",
        reason=reason[:300],
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
    await send_card_refund(session, deps, payment, refund, now=now)
    return refund


async def send_card_refund(
    session: AsyncSession, deps: PaymentDeps, payment: Payment, refund: Refund, *, now: datetime
) -> None:
    """Ask Stripe (again, with the same key); unknown stays `unknown` for the sweeper."""
    assert payment.intent_id is not None
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
    except GatewayUnknown:
        refund.status, refund.updated_at = "unknown", now
        return
    except GatewayError as exc:
        if refund.status == "unknown":  # the sweeper learns it was refused: release the amount
            refund.status, refund.updated_at = "failed", now
            payment.refunded_amount -= refund.amount
            return
        raise ValidationFailed.field("amount", f"the gateway refused the refund: {exc}") from exc
    await _succeeded(session, payment, refund, result.id, now)


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
