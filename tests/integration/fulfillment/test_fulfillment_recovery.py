"""An `order.paid` job the broker took but never completed (Dramatiq gave up on it and parked
it in Redis' own dead-letter queue, or Redis lost it) is still recovered from the outbox: sent
again after `redeliver_seconds`, and after `max_redeliveries` it is a `job_failed` dead letter
in our list that an admin can replay."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from core.outbox import OutboxMessage, relay_once
from core.runtime import Runtime
from fulfillment import (
    CommerceOrders,
    FulfillmentContext,
    Partner,
    Shipment,
    list_dead_letters,
    redeliver_lost_order_paid,
    replay_dead_letter,
)
from tests.integration.fulfillment.conftest import drain
from tests.integration.fulfillment.test_fulfillment_with_commerce import _paid_courier_order
from tests.partner_server import PartnerServer


class BrokerThatGivesUp:
    """Accepts `order.paid` (the relay marks it sent) and the job never completes: what the
    outbox sees when Dramatiq's retries ran out or Redis dropped the message."""

    def __init__(self) -> None:
        self.taken: list[str] = []

    @property
    def topics(self) -> frozenset[str]:
        return frozenset({"order.paid"})

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.taken.append(message_id)


async def _message(runtime: Runtime, order_id: str) -> OutboxMessage:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.topic == "order.paid",
                OutboxMessage.payload["order_id"].as_string() == order_id,
            )
        )
        return list(rows)[-1]


async def _shipment_status(runtime: Runtime, order_id: str) -> str | None:
    async with runtime.sessions() as session:
        return await session.scalar(select(Shipment.status).where(Shipment.order_id == order_id))


async def test_order_paid_lost_by_the_broker_is_sent_again_and_ships(
    jobs_runtime: Runtime, ctx: FulfillmentContext, courier: Partner, partner_server: PartnerServer
) -> None:
    ctx.orders = CommerceOrders()
    order_id = await _paid_courier_order(jobs_runtime)
    broker = BrokerThatGivesUp()
    await relay_once(ctx.sessions, broker, now=ctx.clock.now(), batch=10_000)
    lost = await _message(jobs_runtime, order_id)
    assert lost.id in broker.taken and lost.sent_at is not None
    assert await _shipment_status(jobs_runtime, order_id) is None

    await redeliver_lost_order_paid(ctx, limit=10_000)  # too early: Dramatiq may still retry
    assert (await _message(jobs_runtime, order_id)).sent_at is not None

    ctx.policy = dataclasses.replace(ctx.policy, redeliver_seconds=0)
    await redeliver_lost_order_paid(ctx, limit=10_000)
    again = await _message(jobs_runtime, order_id)
    assert again.id == lost.id and again.sent_at is None  # the same message, pending again
    assert (again.last_error or "").startswith("redelivered")
    await drain(ctx)
    assert await _shipment_status(jobs_runtime, order_id) == "dispatched"
    await redeliver_lost_order_paid(ctx, limit=10_000)  # shipped: nothing more to do
    assert (await _message(jobs_runtime, order_id)).sent_at is not None
    assert len(partner_server.received) == 1


async def test_order_paid_lost_every_time_becomes_a_dead_letter_and_replays(
    jobs_runtime: Runtime, ctx: FulfillmentContext, courier: Partner, partner_server: PartnerServer
) -> None:
    ctx.orders = CommerceOrders()
    ctx.policy = dataclasses.replace(ctx.policy, redeliver_seconds=0, max_redeliveries=2)
    order_id = await _paid_courier_order(jobs_runtime)
    broker = BrokerThatGivesUp()
    for _ in range(ctx.policy.max_redeliveries + 1):
        await relay_once(ctx.sessions, broker, now=ctx.clock.now(), batch=10_000)
        await redeliver_lost_order_paid(ctx, limit=10_000)
    message = await _message(jobs_runtime, order_id)
    assert broker.taken.count(message.id) == ctx.policy.max_redeliveries + 1
    async with jobs_runtime.sessions() as session:
        [dead] = [d for d in await list_dead_letters(session) if d.order_id == order_id]
    assert dead.reason == "job_failed" and dead.shipment_id is None
    await redeliver_lost_order_paid(ctx, limit=10_000)  # dead-lettered: left alone now
    async with jobs_runtime.sessions() as session:
        assert len([d for d in await list_dead_letters(session) if d.order_id == order_id]) == 1

    async with jobs_runtime.sessions() as session, session.begin():
        await replay_dead_letter(session, dead.id, now=ctx.clock.now(), policy=ctx.policy)
    await drain(ctx)
    assert await _shipment_status(jobs_runtime, order_id) == "dispatched"
    await redeliver_lost_order_paid(ctx, limit=10_000)
    async with jobs_runtime.sessions() as session:
        assert not [d for d in await list_dead_letters(session) if d.order_id == order_id]
    assert len(partner_server.received) == 1
