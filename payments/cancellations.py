"""What payments does when commerce cancels an order (outbox `order.cancelled`, routed to an
actor in api/payments_events.py): void the order's unused pay links, then refund what was
captured, once.

One message per cancellation, so nothing is skipped however many orders are cancelled a day or
however long the worker was down (the scan this replaces read the oldest 100 rows of the last
24 hours). Idempotent: a voided attempt is final, and the refund's request key is unique per
order, so a redelivered message finds the work done.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres
from core.errors import DomainError
from payments import domain
from payments.models import Payment, Refund
from payments.refunds import refund_order
from payments.service import PaymentDeps, move

log = structlog.get_logger("hotline.payments.cancellations")
CANCEL_KEY = "order-cancelled"


async def void_attempts(session: AsyncSession, order_id: str, *, reason: str, now: datetime) -> int:
    """Cancel the order's attempts still waiting for a card (no PaymentIntent yet); returns how
    many. An attempt already at Stripe is left to settle: if it succeeds, commerce answers
    `not_payable` and payments refunds it (payments.service.on_captured)."""
    query = select(Payment).where(Payment.order_id == order_id, Payment.status == domain.PENDING)
    if is_postgres(session):
        query = query.with_for_update()  # charge_card holds it while it creates the intent
    voided = 0
    for payment in await session.scalars(query):
        move(session, payment, domain.CANCELED, actor="system:payments", reason=reason, now=now)
        voided += 1
    return voided


async def on_order_cancelled(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, order_id: str, now: datetime
) -> str:
    """Void, then refund what is left of the captured amount. Returns the outcome."""
    async with sessions() as session, session.begin():
        voided = await void_attempts(session, order_id, reason="order cancelled", now=now)
    async with sessions() as session, session.begin():
        done = await session.scalar(
            select(Refund.id).where(Refund.request_key == f"order:{order_id}:{CANCEL_KEY}")
        )
        captured = await session.scalar(
            select(Payment.id).where(
                Payment.order_id == order_id,
                Payment.status == domain.SUCCEEDED,
                Payment.refunded_amount < Payment.amount,
            )
        )
        if done is not None or captured is None:
            return "voided" if voided else "nothing_to_do"
        try:
            refund = await refund_order(
                session,
                deps,
                order_id,
                None,
                reason="order cancelled",
                ticket_id=None,
                actor="system:payments",
                request_key=CANCEL_KEY,
                now=now,
            )
        except DomainError as exc:
            # e.g. no single payment covers the rest: retrying cannot help, a person must.
            log.error("cancelled order not refunded", order_id=order_id, error=str(exc))
            return "refund_refused"
    log.info("cancelled order refunded", order_id=order_id, refund_id=refund.id)
    return "refunded"
