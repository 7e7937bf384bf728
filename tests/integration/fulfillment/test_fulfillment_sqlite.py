"""Embedded defaults: the same relay and jobs run in-process on SQLite (no Redis, no worker)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

from sqlalchemy import select

from api.migrate import upgrade
from core.broker import InProcessSender
from core.clock import SystemClock
from core.db import make_engine, make_sessionmaker
from core.outbox import OutboxMessage, emit, relay_once
from fulfillment import (
    FulfillmentContext,
    HttpPartnerClient,
    OrderSnapshot,
    PartnerIn,
    RetryPolicy,
    Shipment,
    create_shipments,
    redeliver_lost_order_paid,
    register_partner,
)
from fulfillment import actors as fulfillment_actors
from tests.integration.fulfillment.conftest import StubOrders
from tests.partner_server import PartnerServer


async def _drop(payload: dict[str, object]) -> None:
    """A broker that took the message and lost it."""


async def test_in_process_relay_dispatches_on_sqlite(
    tmp_path: Path, partner_server: PartnerServer, orders: StubOrders
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    policy = RetryPolicy(base_seconds=0.01, cap_seconds=0.02)
    ctx = FulfillmentContext(
        sessions=sessions,
        clock=clock,
        orders=orders,
        client=HttpPartnerClient(timeout_seconds=2),
        policy=policy,
        rng=random.Random(3),
    )
    try:
        partner_server.behaviour.fail_first = 1
        async with sessions() as session, session.begin():
            await register_partner(
                session,
                PartnerIn("ems", "EMS", "http", partner_server.url, partner_server.secret),
                currency="CNY",
                now=clock.now(),
            )
            snap: OrderSnapshot = orders.paid()
            [shipment] = await create_shipments(session, snap, now=clock.now(), policy=policy)
        sender = InProcessSender(fulfillment_actors.handlers(ctx))
        for _ in range(30):
            await relay_once(sessions, sender, now=clock.now())
            async with sessions() as session:
                status = (await session.get_one(Shipment, shipment.id)).status
            if status == "dispatched":
                break
        assert status == "dispatched"
        assert partner_server.attempts[shipment.id] == 2
        async with sessions() as session:
            pending = await session.scalars(
                select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
            )
            assert [m.topic for m in pending if m.topic.startswith("fulfillment.")] == []

        # An order.paid the broker lost is found and sent again on SQLite too.
        lost = orders.paid()
        async with sessions() as session, session.begin():
            emit(session, "order.paid", {"order_id": lost.order_id}, now=clock.now())
        await relay_once(sessions, InProcessSender({"order.paid": _drop}), now=clock.now())
        ctx.policy = dataclasses.replace(policy, redeliver_seconds=0)
        assert await redeliver_lost_order_paid(ctx) >= 1
        await relay_once(sessions, sender, now=clock.now())
        async with sessions() as session:
            found = await session.scalar(
                select(Shipment.id).where(Shipment.order_id == lost.order_id)
            )
        assert found is not None
    finally:
        await ctx.client.aclose()  # type: ignore[attr-defined]
        await engine.dispose()
