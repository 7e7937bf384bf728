"""Today's orders and takings by channel, for the supervisor's wallboard (a read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .domain import OrderStatus
from .models import Order

# Money that stays: paid and on its way or delivered (not awaiting, expired, cancelled, refunded).
TAKEN = (OrderStatus.PAID.value, OrderStatus.FULFILLING.value, OrderStatus.FULFILLED.value)


@dataclass(frozen=True)
class ChannelTakings:
    channel: str
    currency: str
    orders: int
    paid_orders: int
    taken: int  # minor units


async def takings_since(session: AsyncSession, since: datetime) -> list[ChannelTakings]:
    paid = Order.status.in_(TAKEN)
    rows = await session.execute(
        select(
            Order.channel,
            Order.currency,
            func.count(),
            func.sum(case((paid, 1), else_=0)),
            func.sum(case((paid, Order.total), else_=0)),
        )
        .where(Order.created_at >= since)
        .group_by(Order.channel, Order.currency)
        .order_by(Order.channel)
    )
    return [ChannelTakings(c, cur, int(n), int(p or 0), int(t or 0)) for c, cur, n, p, t in rows]
