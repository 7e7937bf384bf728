"""One-seat courier orders for fulfillment's tests and bench: an offer with room for `n`, and
orders placed on it through the commerce room (held; the caller pays them when it needs to)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

import commerce
from core.money import Money
from core.settings import Settings

ADDRESS = "上海市徐汇区漕溪北路1111号"


async def one_seat_offer(
    session: AsyncSession, capacity: int, *, now: datetime, title: str = "演唱会"
) -> commerce.Offer:
    return await commerce.create_offer(
        session,
        kind="event",
        title=f"{title} {uuid.uuid4().hex[:6]}",
        venue="鸟巢",
        starts_at=now + timedelta(days=5),
        price=Money(38000, "CNY"),
        capacity=capacity,
        now=now,
    )


async def place_courier_orders(
    session: AsyncSession, offer_id: str, n: int, *, settings: Settings, now: datetime
) -> list[str]:
    """`n` orders of one seat each, each by a customer of its own; their ids."""
    ids = []
    for _ in range(n):
        customer = uuid.uuid4().hex
        order = await commerce.place_order(
            session,
            customer_id=customer,
            lines=[commerce.LineRequest(offer_id, 1)],
            delivery_method="courier",
            delivery_address=ADDRESS,
            actor=f"customer:{customer}",
            channel="web",
            settings=settings,
            now=now,
        )
        ids.append(order.id)
    return ids
