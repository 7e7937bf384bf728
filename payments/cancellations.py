"""What payments does when commerce cancels an order (outbox `order.cancelled`, routed to an
actor in api/payments_events.py): void the order's unused pay links, then refund what was
captured, once.

One message per cancellation, so nothing is skipped however many orders are cancelled a day or
however long the worker was down (the scan this replaces read the oldest 100 rows of the last
24 hours). Idempotent: a voided attempt is final, and the refund's request key is unique per
order, so a redelivered message finds the work done.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres
from core.errors import DomainError
from core.outbox import OutboxMessage, redeliver
from payments import domain
from payments.models import Payment, Refund
from payments.refunds import refund_order
from payments.service import PaymentDeps, move

log = structlog.get_logger("hotline.payments.cancellations")
CANCEL_KEY = "order-cancelled"
TOPIC_ORDER_CANCELLED = "order.cancelled"  # commerce's fact (commerce.TOPIC_ORDER_CANCELLED)


async def void_attempts(session: AsyncSession, order_id: str, *, reason: str, now: datetime) -> int:
    """Cancel the order's attempts still waiting for a card (no PaymentIntent yet); returns how
    many. An attempt already at Stripe is left to settle: if it succeeds, commerce answers
    `not_payable` and payments refunds it (payments.service.on_captured)."""
    query = select(Payment).where(Payment.order_id == order_id, Payment.status == domain.PENDING)
    if is_postgres(session):
        query = query.with_for_update()  # a charge's claim (pending -> processing) waits
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
    async with sessions() as session:
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
    try:  # reserves and commits, then asks the gateway with no transaction open
        refund = await refund_order(
            sessions,
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


# A cancellation whose job was lost after the relay sent it (Dramatiq gave up during a long
# database outage, or Redis restarted without its data) would never be refunded: the message
# is marked sent. So a scan sends it again while the order still holds captured money and has
# no cancellation refund. After Dramatiq's own retry window for the actor (about 14 minutes,
# api/payments_events.py) so the two do not race; a refund is not as urgent as a shipment.
REDELIVER_AFTER = timedelta(minutes=15)
MAX_REDELIVERIES = 3
HORIZON = timedelta(days=2)  # bounds the scan; a lost job is sent again long before this


async def redeliver_lost_cancellations(
    sessions: async_sessionmaker[AsyncSession], now: datetime, *, limit: int = 100
) -> int:
    """Send `order.cancelled` again where its job was lost; returns how many were."""
    cutoff = now - REDELIVER_AFTER
    order_id = OutboxMessage.payload["order_id"].as_string()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.topic == TOPIC_ORDER_CANCELLED,
            OutboxMessage.sent_at.is_not(None),
            OutboxMessage.sent_at <= cutoff,
            OutboxMessage.sent_at > cutoff - HORIZON,
            OutboxMessage.attempts < MAX_REDELIVERIES,
            exists().where(
                Payment.order_id == order_id,
                Payment.status == domain.SUCCEEDED,
                Payment.refunded_amount < Payment.amount,
            ),
            ~exists().where(
                Refund.order_id == order_id, Refund.request_key.like(f"order:%:{CANCEL_KEY}")
            ),
        )
        .order_by(OutboxMessage.sent_at)
        .limit(limit)
    )
    async with sessions() as session, session.begin():
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True, of=OutboxMessage)
        messages = list(await session.scalars(query))
        for message in messages:
            redeliver(message, now, "cancelled order still holds captured money")
            log.warning(
                "order.cancelled redelivered",
                order_id=message.payload.get("order_id"),
                message_id=message.id,
                attempts=message.attempts,
            )
    return len(messages)
