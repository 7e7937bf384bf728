"""Shared helpers for the commerce integration tests (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

import commerce
from commerce import LineRequest, Offer, Order, OrderItem
from commerce.domain import HOLDING
from core.clock import Clock
from core.db import make_engine, make_sessionmaker
from core.money import Money
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import make_customer


async def make_offer(
    runtime: Runtime,
    *,
    capacity: int = 10,
    price: int = 68000,
    kind: str = "event",
    title: str | None = None,
    venue: str = "上海体育场",
    starts_in: timedelta = timedelta(days=7),
) -> Offer:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        return await commerce.create_offer(
            session,
            kind=kind,
            title=title or f"周杰伦演唱会 {uuid.uuid4().hex[:6]}",
            venue=venue,
            starts_at=now + starts_in,
            price=Money(price, "CNY"),
            capacity=capacity,
            now=now,
        )


async def place(
    runtime: Runtime,
    customer_id: str,
    *lines: tuple[str, int],
    now: datetime | None = None,
    method: str = "e_ticket",
) -> Any:
    """An order placed as POST /v1/orders places it: the runtime's placement adapter on its
    own (on PostgreSQL, commerce_place_order on asyncpg's pool), so the concurrency tests
    exercise the production path."""
    return await commerce.placement(runtime).place(
        customer_id=customer_id,
        lines=[LineRequest(o, q) for o, q in lines],
        delivery_method=method,
        delivery_address="上海市徐汇区漕溪北路1111号" if method == "courier" else None,
        actor=f"customer:{customer_id}",
        channel="web",
        now=now or runtime.clock.now(),
    )


async def available(runtime: Runtime, offer_id: str) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(Offer.available).where(Offer.id == offer_id)) or 0)


async def seats_sold(runtime: Runtime, offer_id: str) -> int:
    """Seats on orders that still hold capacity (what was really sold or is held)."""
    async with runtime.sessions() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(OrderItem.quantity), 0))
            .join(Order, Order.id == OrderItem.order_id)
            .where(
                OrderItem.offer_id == offer_id,
                Order.status.in_([s.value for s in HOLDING]),
            )
        )
        return int(total or 0)


async def new_customer(runtime: Runtime) -> str:
    """A real customer (orders.customer_id is a foreign key to the auth room's table)."""
    return str((await make_customer(runtime)).id)


def small_runtime(settings: Settings, *, clock: Clock | None = None, pool: int = 8) -> Runtime:
    """A runtime with a small connection pool: PostgreSQL here allows 100 connections, shared
    by every test run on the machine (concurrency tests queue for the pool instead)."""
    runtime = Runtime.build(settings, clock=clock)
    runtime.engine = make_engine(settings.database_url, pool_size=pool, max_overflow=2)
    runtime.sessions = make_sessionmaker(runtime.engine)
    return runtime
