"""Dead letters of paid orders that got no shipment (no partner, or a job that kept
failing); the shipment kind is written where dispatch gives up (service.record)."""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from fulfillment import metrics
from fulfillment.models import DeadLetter

log = structlog.get_logger("hotline.fulfillment")


async def dead_letter_order(
    session: AsyncSession,
    order_id: str,
    reason: str,
    *,
    error: str | None,
    now: datetime,
    delivery_method: str | None = None,
) -> DeadLetter | None:
    """Record a paid order that got no shipment, once while it is open (a duplicate
    `order.paid` job finds the open one and adds nothing)."""
    if await session.scalar(
        select(DeadLetter.id).where(
            DeadLetter.order_id == order_id, DeadLetter.replayed_at.is_(None)
        )
    ):
        return None
    dead = DeadLetter(
        shipment_id=None,
        order_id=order_id,
        reason=reason,
        delivery_method=delivery_method,
        partner_code=None,
        attempts=0,
        last_error=(error or "")[:500],
        created_at=now,
    )
    session.add(dead)
    metrics.DEAD_LETTERS.labels(f"({reason})").inc()
    log.warning("paid order dead-lettered", order_id=order_id, reason=reason, error=error)
    return dead
