"""The set-wise burst path (fulfillment.batch, the relay's batch routes) against the plain
per-order jobs: the same orders, shipments, events, dispatches, payables and ledger lines,
idempotent when run again, and the unusual cases handed to the plain code."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO
from sqlalchemy import func, select

import commerce
from core.broker import DramatiqSender
from core.db import new_id
from core.outbox import BATCH_MIN, CLAIM, OutboxMessage, emit, emit_claimed, relay_once
from core.runtime import Runtime
from fulfillment import (
    JOB_QUEUE,
    JOB_ROUTES,
    TOPIC_DISPATCH,
    TOPIC_ORDER_PAID,
    CommerceOrders,
    FulfillmentContext,
    Partner,
    PartnerPayable,
    Shipment,
    declare_jobs,
    dispatch,
    job_batch_handlers,
)
from fulfillment.batch import GROUP, dispatch_many, handle_orders_paid
from fulfillment.models import ShipmentEvent
from fulfillment.service import handle_order_paid
from payments.models import LedgerEntry, LedgerTransaction
from tests.courier_orders import one_seat_offer, place_courier_orders
from tests.partner_server import PartnerServer


async def paid_orders(runtime: Runtime, n: int) -> list[str]:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        offer = await one_seat_offer(session, n, now=now, title="批量")
        ids = await place_courier_orders(session, offer.id, n, settings=runtime.settings, now=now)
        for order_id in ids:
            result = await commerce.mark_paid(
                session, order_id, actor="system", channel="system", reason="test", now=now
            )
            assert result.outcome == "paid"
    return ids


async def state(runtime: Runtime, order_ids: list[str]) -> list[dict[str, Any]]:
    """Per order, everything the jobs wrote, without ids and times."""
    out = []
    async with runtime.sessions() as session:
        for order_id in order_ids:
            order = await commerce.get_order(session, order_id)
            events = [
                (
                    e.from_status,
                    e.to_status,
                    e.actor.replace(order.customer_id, "C"),
                    e.channel,
                    e.reason,
                )
                for e in await session.scalars(
                    select(commerce.OrderEvent)
                    .where(commerce.OrderEvent.order_id == order_id)
                    .order_by(commerce.OrderEvent.at, commerce.OrderEvent.to_status)
                )
            ]
            row: dict[str, Any] = {"status": order.status, "events": events}
            shipment = await session.scalar(select(Shipment).where(Shipment.order_id == order_id))
            if shipment is not None:
                request = dict(shipment.request)
                assert request.pop("shipment_id") == shipment.id
                request = json.loads(json.dumps(request).replace(order.number, "N"))
                row["shipment"] = (
                    shipment.status, shipment.language, shipment.attempts, request,
                    shipment.lease_until, shipment.last_error, shipment.dead_lettered,
                    shipment.tracking_number == f"TN-{shipment.id[:10]}",
                    shipment.next_attempt_at is None, shipment.dispatched_at is not None,
                )  # fmt: skip
                row["shipment_events"] = sorted(
                    (e.status, e.source, e.applied)
                    for e in await session.scalars(
                        select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
                    )
                )
                row["payables"] = [
                    (p.amount_minor, p.currency)
                    for p in await session.scalars(
                        select(PartnerPayable).where(PartnerPayable.shipment_id == shipment.id)
                    )
                ]
                row["ledger"] = sorted(
                    (t.kind, t.memo.replace(shipment.id, "S"), e.account, e.amount, e.currency)
                    for t, e in await session.execute(
                        select(LedgerTransaction, LedgerEntry)
                        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
                        .where(LedgerTransaction.order_id == order_id)
                    )
                )
                row["dispatch_messages"] = await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(
                        OutboxMessage.topic == TOPIC_DISPATCH,
                        OutboxMessage.payload["shipment_id"].as_string() == shipment.id,
                    )
                )
            out.append(row)
    return out


async def shipment_ids(runtime: Runtime, order_ids: list[str]) -> list[str]:
    async with runtime.sessions() as session:
        rows = await session.execute(
            select(Shipment.order_id, Shipment.id).where(Shipment.order_id.in_(order_ids))
        )
        by_order = dict(rows.all())
    return [by_order[o] for o in order_ids if o in by_order]


async def test_set_wise_jobs_write_what_the_plain_jobs_write(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    n = GROUP + 3  # more than one dispatch group
    ids = await paid_orders(jobs_runtime, 2 * n)
    plain, fast = ids[:n], ids[n:]
    for order_id in plain:
        assert await handle_order_paid(ctx, order_id) == 1
    for shipment_id in await shipment_ids(jobs_runtime, plain):
        assert await dispatch(ctx, shipment_id) == "dispatched"
    # The batch job dispatches its own shipments after its commit (batch._dispatch_own).
    assert await handle_orders_paid(ctx, fast) == n
    fast_shipments = await shipment_ids(jobs_runtime, fast)
    after = await state(jobs_runtime, fast)
    assert after == await state(jobs_runtime, plain)
    assert {r["status"] for r in after} == {"fulfilling"}
    assert {r["shipment"][0] for r in after} == {"dispatched"}
    # ... and marks their outbox messages sent, as the relay would: no relay sends them again.
    assert await unsent_dispatches(jobs_runtime, fast_shipments) == []
    later = jobs_runtime.clock.now() + CLAIM + timedelta(seconds=1)
    relayed = RecordingSender(TOPIC_DISPATCH)
    await relay_once(jobs_runtime.sessions, relayed, now=later)
    assert not set(relayed.sent) & set(fast_shipments)

    # Run again (a redelivered batch): nothing new is created or sent.
    received = len(partner_server.received)
    assert await handle_orders_paid(ctx, fast) == n  # existing shipments, counted as before
    assert set((await dispatch_many(ctx, fast_shipments)).values()) == {"skipped"}
    assert await state(jobs_runtime, fast) == after
    assert len(partner_server.received) == received
    bodies = partner_server.bodies_by_key()
    for shipment_id in fast_shipments:
        [body] = bodies[shipment_id]
        assert json.loads(body)["shipment_id"] == shipment_id


async def unsent_dispatches(runtime: Runtime, shipments: list[str]) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.topic == TOPIC_DISPATCH,
                OutboxMessage.payload["shipment_id"].as_string().in_(shipments),
                OutboxMessage.sent_at.is_(None),
            )
        )
        return list(rows)


class RecordingSender:
    """The relay's sender for one topic, recording the shipments it was handed."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.sent: list[str] = []

    @property
    def topics(self) -> frozenset[str]:
        return frozenset({self.topic})

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.sent.append(payload["shipment_id"])


class BrokenClient:
    """A partner client that raises (a bug, not an answer): the batch job's own dispatch fails."""

    async def dispatch(self, *args: Any) -> Any:
        raise RuntimeError("boom")


async def test_a_batch_whose_own_dispatch_fails_hands_its_messages_to_the_relay(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    ids = await paid_orders(jobs_runtime, 3)
    client, ctx.client = ctx.client, BrokenClient()
    try:
        assert await handle_orders_paid(ctx, ids) == 3  # the shipments stand
    finally:
        ctx.client = client
    shipments = await shipment_ids(jobs_runtime, ids)
    left = await unsent_dispatches(jobs_runtime, shipments)
    assert len(left) == 3
    assert all(m.available_at <= jobs_runtime.clock.now() for m in left)  # due now, not claimed
    relayed = RecordingSender(TOPIC_DISPATCH)
    await relay_once(jobs_runtime.sessions, relayed, now=jobs_runtime.clock.now())
    assert set(shipments) <= set(relayed.sent)


class RivalWorker:
    """A partner client that, at the batch job's first partner call, lets another worker's
    dispatch job try the burst's shipments (a redelivered message, a watchdog's re-enqueue)."""

    def __init__(self, ctx: FulfillmentContext, runtime: Runtime, order_ids: list[str]) -> None:
        self.inner, self.runtime, self.order_ids = ctx.client, runtime, order_ids
        self.rival = dataclasses.replace(ctx)
        self.rival_outcomes: dict[str, str] | None = None

    async def dispatch(self, *args: Any) -> Any:
        if self.rival_outcomes is None:
            self.rival_outcomes = {}
            shipments = await shipment_ids(self.runtime, self.order_ids)
            self.rival_outcomes = await dispatch_many(self.rival, shipments)
        return await self.inner.dispatch(*args)


async def test_a_bursts_shipments_are_written_leased_to_the_job_that_sends_them(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    """The set-wise job writes its shipments already claimed (batch._create_set_wise), so no
    claim transaction runs before its own dispatch, and no other worker takes one meanwhile."""
    ctx.orders = CommerceOrders()
    ids = await paid_orders(jobs_runtime, GROUP + 2)
    rival = RivalWorker(ctx, jobs_runtime, ids)
    ctx.client = rival
    try:
        assert await handle_orders_paid(ctx, ids) == len(ids)
    finally:
        ctx.client = rival.inner
    shipments = await shipment_ids(jobs_runtime, ids)
    assert rival.rival_outcomes == dict.fromkeys(shipments, "skipped")
    bodies = partner_server.bodies_by_key()
    assert all(len(bodies[s]) == 1 for s in shipments)
    assert sum(r.key in set(shipments) for r in partner_server.received) == len(shipments)
    assert {r["shipment"][0:3:2] for r in await state(jobs_runtime, ids)} == {("dispatched", 1)}
    assert await unsent_dispatches(jobs_runtime, shipments) == []


async def test_a_batch_killed_before_its_own_dispatch_leaves_them_to_the_relay(
    jobs_runtime: Runtime,
) -> None:
    """What a kill -9 between the commit and the job's own dispatch leaves: messages claimed
    as the relay claims them, sent by a relay once the claim runs out."""
    topic = f"test.{uuid.uuid4().hex[:8]}"
    now = jobs_runtime.clock.now()
    async with jobs_runtime.sessions() as session, session.begin():
        claimed = await emit_claimed(session, topic, [{"shipment_id": "s1"}], now=now)
    sender = RecordingSender(topic)
    assert await relay_once(jobs_runtime.sessions, sender, now=now) == 0
    later = now + CLAIM + timedelta(seconds=1)
    assert await relay_once(jobs_runtime.sessions, sender, now=later) == 1
    assert sender.sent == ["s1"] and len(claimed) == 1


async def test_unusual_orders_in_a_batch_take_the_plain_path(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    ids = await paid_orders(jobs_runtime, 4)
    cancelled, shipped, missing = ids[0], ids[1], uuid.uuid4().hex
    async with jobs_runtime.sessions() as session, session.begin():
        await commerce.transition(
            session,
            cancelled,
            commerce.OrderStatus.CANCELLED,
            actor="system",
            channel="system",
            reason="test",
            now=jobs_runtime.clock.now(),
        )
    assert await handle_order_paid(ctx, shipped) == 1
    # 2 new shipments, and the one already there (counted, as the plain job counts it)
    assert await handle_orders_paid(ctx, [*ids, missing, ids[2]]) == 3
    assert len(await shipment_ids(jobs_runtime, ids)) == 3  # not the cancelled one
    states = await state(jobs_runtime, ids)
    assert [s["status"] for s in states] == ["cancelled", "fulfilling", "fulfilling", "fulfilling"]
    assert "shipment" not in states[0]


async def test_a_partner_refusal_in_a_batch_is_retried_by_the_plain_rules(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    ids = await paid_orders(jobs_runtime, 3)
    partner_server.behaviour.fail_first = 1
    await handle_orders_paid(ctx, ids)  # its own dispatch meets the refusal
    shipments = await shipment_ids(jobs_runtime, ids)
    async with jobs_runtime.sessions() as session:
        rows = list(await session.scalars(select(Shipment).where(Shipment.id.in_(shipments))))
        queued = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == TOPIC_DISPATCH,
                OutboxMessage.payload["shipment_id"].as_string().in_(shipments),
            )
        )
    assert {(s.status, s.attempts, s.last_error, s.lease_until) for s in rows} == {
        ("pending", 1, "HTTP 503", None)
    }
    assert queued == 2 * len(shipments)  # the first dispatch message and a retry each
    assert set((await dispatch_many(ctx, shipments)).values()) == {"dispatched"}


class BatchSender:
    """A sender with a batch route for its own topic, recording what it was handed."""

    def __init__(self, topic: str, fail: bool = False) -> None:
        self.topic = topic
        self.single: list[str] = []
        self.batches: list[list[str]] = []
        self.fail = fail

    @property
    def topics(self) -> frozenset[str]:
        return frozenset({self.topic})

    @property
    def batch_topics(self) -> frozenset[str]:
        return self.topics

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.single.append(payload["order_id"])

    async def send_many(self, topic: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        if self.fail:
            raise ConnectionError("redis down")
        self.batches.append([p["order_id"] for _, p in messages])


async def emit_paid(runtime: Runtime, topic: str, n: int) -> list[str]:
    ids = [f"batch-{uuid.uuid4().hex[:12]}" for _ in range(n)]
    async with runtime.sessions() as session, session.begin():
        for order_id in ids:
            emit(session, topic, {"order_id": order_id}, now=runtime.clock.now())
    return ids


async def pending(runtime: Runtime, topic: str) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic))
        return [m for m in rows if m.sent_at is None]


async def test_the_relay_sends_a_burst_as_one_batch_and_a_trickle_one_by_one(
    jobs_runtime: Runtime,
) -> None:
    runtime = jobs_runtime
    topic = f"test.{uuid.uuid4().hex[:8]}"  # this test's own: other tests leave order.paid
    failing = BatchSender(topic, fail=True)
    burst = await emit_paid(runtime, topic, BATCH_MIN)
    assert await relay_once(runtime.sessions, failing, now=runtime.clock.now()) == 0
    left = await pending(runtime, topic)
    assert len(left) == BATCH_MIN and {m.attempts for m in left} == {1}  # given back

    sender = BatchSender(topic)
    later = runtime.clock.now() + timedelta(minutes=1)
    assert await relay_once(runtime.sessions, sender, now=later) == BATCH_MIN
    assert [sorted(b) for b in sender.batches] == [sorted(burst)] and sender.single == []
    assert await pending(runtime, topic) == []

    trickle = await emit_paid(runtime, topic, BATCH_MIN - 1)
    assert await relay_once(runtime.sessions, sender, now=later) == BATCH_MIN - 1
    assert sorted(sender.single) == sorted(trickle) and len(sender.batches) == 1


class KilledSender(BatchSender):
    """A Dramatiq sender's claim, and a process that stops in the middle of the send."""

    claim = DramatiqSender.claim

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        raise asyncio.CancelledError  # the worker's loop is torn down mid-send


async def test_rows_of_a_relay_killed_mid_send_wait_only_its_senders_claim(
    jobs_runtime: Runtime,
) -> None:
    topic = f"test.{uuid.uuid4().hex[:8]}"
    [order] = await emit_paid(jobs_runtime, topic, 1)
    now = jobs_runtime.clock.now()
    with pytest.raises(asyncio.CancelledError):
        await relay_once(jobs_runtime.sessions, KilledSender(topic), now=now)
    sender = BatchSender(topic)
    claim = DramatiqSender.claim
    assert claim < CLAIM
    assert await relay_once(jobs_runtime.sessions, sender, now=now + claim / 2) == 0
    assert await relay_once(jobs_runtime.sessions, sender, now=now + claim) == 1
    assert sender.single == [order]


async def test_a_worker_relay_runs_a_claimed_burst_itself_and_enqueues_only_a_trickle(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    """DramatiqSender.run_batches_here: the batch actor's job, run by the relay's process."""
    ctx.orders = CommerceOrders()
    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    declare_jobs(broker)
    sender = DramatiqSender(broker, JOB_ROUTES)
    sender.run_batches_here(job_batch_handlers(ctx))
    ids = await paid_orders(jobs_runtime, 3)
    await sender.send_many(TOPIC_ORDER_PAID, [(new_id(), {"order_id": o}) for o in ids])
    assert {r["shipment"][0] for r in await state(jobs_runtime, ids)} == {"dispatched"}
    assert broker.queues[JOB_QUEUE].qsize() == 0  # nothing went through Redis
    await sender.send(new_id(), TOPIC_ORDER_PAID, {"order_id": ids[0]})
    assert broker.queues[JOB_QUEUE].qsize() == 1  # a lone message: a job of its own


async def test_a_lone_orders_job_sends_its_own_shipment_without_a_second_job(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Dramatiq job of a lone `order.paid` (the trickle the relay enqueues one by one) runs
    the burst's job with a batch of one: the partner gets the shipment from this job, its
    dispatch message is already sent, so no second job (the relay, Redis, `dispatch`) runs;
    and the rows are the plain jobs' rows."""
    from fulfillment import actors

    ctx.orders = CommerceOrders()
    # the worker's configure(), undone after the test
    monkeypatch.setattr(actors._context, "_factory", lambda: ctx)
    monkeypatch.setattr(actors._context, "_value", None)
    lone, plain = await paid_orders(jobs_runtime, 2)
    assert await handle_order_paid(ctx, plain) == 1
    [plain_shipment] = await shipment_ids(jobs_runtime, [plain])
    assert await dispatch(ctx, plain_shipment) == "dispatched"

    await actors.order_paid(lone)

    [shipment] = await shipment_ids(jobs_runtime, [lone])
    assert len(partner_server.bodies_by_key()[shipment]) == 1
    assert await unsent_dispatches(jobs_runtime, [shipment]) == []
    assert await state(jobs_runtime, [lone]) == await state(jobs_runtime, [plain])
    later = jobs_runtime.clock.now() + CLAIM + timedelta(seconds=1)
    relayed = RecordingSender(TOPIC_DISPATCH)
    await relay_once(jobs_runtime.sessions, relayed, now=later)
    assert shipment not in relayed.sent
    # Delivered again (at least once): nothing new is created or sent.
    await actors.order_paid(lone)
    assert len(partner_server.bodies_by_key()[shipment]) == 1
    assert await shipment_ids(jobs_runtime, [lone]) == [shipment]
