"""Recovery of `order.paid` jobs lost after the outbox handed them to the broker.

Once the relay has sent a message, the outbox row is marked sent and Dramatiq owns the job.
For `fulfillment.dispatch` that is safe without further help: a pending shipment always has a
`next_attempt_at`, so the watchdog (service.sweep_due) sends it again whatever Dramatiq did.
`order.paid` has no such row until its job succeeds: if Dramatiq gives up on it (its retries
ran out, say during a long database outage, and the message went to Redis' own dead-letter
queue, which no admin reads) or Redis loses it, the paid order would never ship. This sweep
finds such orders from the outbox itself and sends the same message again; after
`max_redeliveries` it records a `job_failed` dead letter instead, for an admin to see and
replay.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import exists, select

from core.db import is_postgres
from core.outbox import OutboxMessage, redeliver
from fulfillment.dead_letters import dead_letter_order
from fulfillment.models import DeadLetter, Shipment
from fulfillment.service import TOPIC_ORDER_PAID, FulfillmentContext

log = structlog.get_logger("hotline.fulfillment")

# Only messages sent within this window are looked at, which bounds the scan; a lost job is
# redelivered or dead-lettered within (max_redeliveries + 1) * redeliver_seconds anyway.
HORIZON = timedelta(days=2)


async def redeliver_lost_order_paid(ctx: FulfillmentContext, *, limit: int = 100) -> int:
    """Send again (or dead-letter) `order.paid` messages sent `redeliver_seconds` ago whose
    order still has no shipment. Returns how many messages it acted on. Safe in several
    processes: rows are claimed with FOR UPDATE SKIP LOCKED on PostgreSQL."""
    now = ctx.clock.now()
    cutoff = now - timedelta(seconds=ctx.policy.redeliver_seconds)
    order_id = OutboxMessage.payload["order_id"].as_string()
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.topic == TOPIC_ORDER_PAID,
            OutboxMessage.sent_at.is_not(None),
            OutboxMessage.sent_at <= cutoff,
            OutboxMessage.sent_at > cutoff - HORIZON,
            ~exists().where(Shipment.order_id == order_id),
            # A dead letter recorded after this message was emitted is its outcome already
            # (no partner, or this sweep gave up); a replay emits a newer message.
            ~exists().where(
                DeadLetter.order_id == order_id, DeadLetter.created_at >= OutboxMessage.created_at
            ),
        )
        .order_by(OutboxMessage.sent_at)
        .limit(limit)
    )
    async with ctx.sessions() as session, session.begin():
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True, of=OutboxMessage)
        messages = list(await session.scalars(query))
        for message in messages:
            lost_for = int((now - (message.sent_at or now)).total_seconds())
            if message.attempts >= ctx.policy.max_redeliveries:
                await dead_letter_order(
                    session,
                    str(message.payload.get("order_id")),
                    "job_failed",
                    error=f"order.paid sent {message.attempts + 1} times; still no shipment",
                    now=now,
                )
            else:
                redeliver(message, now, f"no shipment {lost_for}s after it was sent")
                log.warning(
                    "order.paid redelivered",
                    order_id=message.payload.get("order_id"),
                    message_id=message.id,
                    lost_for=lost_for,
                )
    return len(messages)
