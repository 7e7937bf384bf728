"""Paid order -> outbox -> shipment -> signed partner dispatch, against PostgreSQL and a live
local partner server."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import func, select, update

from core.outbox import OutboxMessage, emit
from core.runtime import Runtime
from fulfillment import (
    TOPIC_DISPATCH,
    TOPIC_SHIPMENT_FAILED,
    FulfillmentContext,
    Partner,
    PartnerPayable,
    Shipment,
    dispatch,
    list_dead_letters,
    replay_dead_letter,
    sweep_due,
)
from fulfillment.actors import TOPIC_ORDER_PAID
from tests.integration.fulfillment.conftest import (
    RecordingSms,
    StubOrders,
    drain,
    only_partner,
)
from tests.partner_server import PartnerServer


async def pay(
    runtime: Runtime, orders: StubOrders, method: str = "courier", lang: str = "zh"
) -> str:
    snap = orders.paid(method, lang)
    async with runtime.sessions() as session, session.begin():
        emit(session, TOPIC_ORDER_PAID, {"order_id": snap.order_id}, now=runtime.clock.now())
    return snap.order_id


async def shipment_of(runtime: Runtime, order_id: str) -> Shipment:
    async with runtime.sessions() as session:
        shipment = await session.scalar(select(Shipment).where(Shipment.order_id == order_id))
        assert shipment is not None
        return shipment


async def test_paid_order_reaches_partner_signed_with_idempotency_key(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    order_id = await pay(runtime, orders)
    await drain(ctx)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.status == "dispatched"
    assert shipment.tracking_number == f"TN-{shipment.id[:10]}"
    [req] = [r for r in partner_server.received if r.key == shipment.id]
    assert req.signature_ok
    body = json.loads(req.body)
    assert body["shipment_id"] == shipment.id
    assert body["recipient"]["address"].startswith("北京市")
    assert body["delivery_method"] == "courier"
    assert (order_id, "fulfilling") in orders.marks
    async with runtime.sessions() as session:
        payable = await session.scalar(
            select(PartnerPayable).where(PartnerPayable.shipment_id == shipment.id)
        )
    assert payable is not None and payable.amount_minor == 1500 and payable.currency == "CNY"


async def test_order_paid_twice_creates_one_shipment(
    jobs_runtime: Runtime, ctx: FulfillmentContext, orders: StubOrders, courier: Partner
) -> None:
    runtime = jobs_runtime
    order_id = await pay(runtime, orders)
    async with runtime.sessions() as session, session.begin():
        emit(session, TOPIC_ORDER_PAID, {"order_id": order_id}, now=runtime.clock.now())
    await drain(ctx)
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Shipment).where(Shipment.order_id == order_id)
        )
    assert count == 1


async def test_transient_failures_are_retried_with_the_same_key_and_body(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.fail_first = 2
    order_id = await pay(runtime, orders)
    await drain(ctx)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.status == "dispatched" and shipment.attempts == 3
    assert partner_server.attempts[shipment.id] == 3
    assert len(partner_server.bodies_by_key()[shipment.id]) == 1


async def test_retry_after_is_honoured(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.fail_first = 1
    partner_server.behaviour.fail_status = 429
    partner_server.behaviour.retry_after = "40"
    ctx.policy = type(ctx.policy)(**{**ctx.policy.__dict__, "cap_seconds": 120})
    order_id = await pay(runtime, orders)
    await drain(ctx, rounds=5)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.status == "pending" and shipment.attempts == 1
    async with runtime.sessions() as session:
        due = await session.scalar(
            select(OutboxMessage.available_at).where(
                OutboxMessage.topic == TOPIC_DISPATCH,
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.payload["shipment_id"].as_string() == shipment.id,
            )
        )
    assert due is not None and (due - runtime.clock.now()).total_seconds() > 35


async def test_timeout_is_retried(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.delay_seconds = 0.8  # beyond the 0.5 s client timeout
    order_id = await pay(runtime, orders)
    await drain(ctx, rounds=3)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.status == "pending" and shipment.attempts >= 1
    assert "Timeout" in (shipment.last_error or "")
    partner_server.behaviour.delay_seconds = 0
    await drain(ctx)
    assert (await shipment_of(runtime, order_id)).status == "dispatched"


async def test_permanent_4xx_fails_the_shipment_and_raises_it(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.permanent_status = 422
    order_id = await pay(runtime, orders)
    await drain(ctx)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.status == "failed" and shipment.attempts == 1
    async with runtime.sessions() as session:
        raised = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == TOPIC_SHIPMENT_FAILED,
                OutboxMessage.payload["shipment_id"].as_string() == shipment.id,
            )
        )
    assert raised == 1


async def test_exhausted_retries_dead_letter_then_replay_dispatches(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.fail_first = 100
    order_id = await pay(runtime, orders)
    await drain(ctx)
    shipment = await shipment_of(runtime, order_id)
    assert shipment.dead_lettered and shipment.attempts == ctx.policy.max_attempts
    async with runtime.sessions() as session:
        dead = [d for d in await list_dead_letters(session) if d.shipment_id == shipment.id]
    assert len(dead) == 1 and dead[0].last_error == "HTTP 503"
    partner_server.behaviour.fail_first = 0
    async with runtime.sessions() as session, session.begin():
        await replay_dead_letter(session, dead[0].id, now=runtime.clock.now(), policy=ctx.policy)
    await drain(ctx)
    assert (await shipment_of(runtime, order_id)).status == "dispatched"
    assert len(partner_server.bodies_by_key()[shipment.id]) == 1


async def test_concurrent_dispatches_of_one_shipment_call_the_partner_once(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    partner_server.behaviour.delay_seconds = 0.2
    snap = orders.paid()
    from fulfillment import handle_order_paid

    await handle_order_paid(ctx, snap.order_id)
    shipment = await shipment_of(runtime, snap.order_id)
    results = await asyncio.gather(*(dispatch(ctx, shipment.id) for _ in range(4)))
    assert sorted(results) == ["dispatched", "skipped", "skipped", "skipped"]
    assert partner_server.attempts[shipment.id] == 1
    # A late duplicate after success is harmless too.
    assert await dispatch(ctx, shipment.id) == "skipped"


async def test_watchdog_redispatches_a_shipment_whose_worker_died(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    runtime = jobs_runtime
    from fulfillment import handle_order_paid

    snap = orders.paid()
    await handle_order_paid(ctx, snap.order_id)
    shipment = await shipment_of(runtime, snap.order_id)
    past = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        # As if a worker claimed it and was killed: expired lease, message long gone.
        await session.execute(
            update(Shipment)
            .where(Shipment.id == shipment.id)
            .values(lease_until=past, next_attempt_at=past, attempts=1)
        )
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.payload["shipment_id"].as_string() == shipment.id)
            .values(sent_at=past)
        )
    assert await sweep_due(ctx) >= 1
    assert await sweep_due(ctx) == 0  # bumped: not emitted twice
    await drain(ctx)
    assert (await shipment_of(runtime, snap.order_id)).status == "dispatched"


async def test_eticket_codes_go_by_sms_in_customer_language_and_fulfil(
    jobs_runtime: Runtime, ctx: FulfillmentContext, orders: StubOrders, sms: RecordingSms
) -> None:
    runtime = jobs_runtime
    await only_partner(runtime, kind="eticket", cost=0)
    en = await pay(runtime, orders, "eticket", "en")
    zh = await pay(runtime, orders, "eticket", "zh")
    await drain(ctx)
    for order_id in (en, zh):
        assert (await shipment_of(runtime, order_id)).status == "delivered"
        assert (order_id, "fulfilled") in orders.marks
    bodies = {to: body for to, body, _ in sms.sent}
    assert "your e-tickets" in bodies[orders.snapshots[en].recipient_phone]
    assert "电子票码" in bodies[orders.snapshots[zh].recipient_phone]
    assert "C-1" in bodies[orders.snapshots[zh].recipient_phone]


async def test_sms_outage_is_retried_for_etickets(
    jobs_runtime: Runtime, ctx: FulfillmentContext, orders: StubOrders, sms: RecordingSms
) -> None:
    runtime = jobs_runtime
    await only_partner(runtime, kind="eticket", cost=0)
    sms.fail = True
    order_id = await pay(runtime, orders, "eticket", "en")
    await drain(ctx, rounds=3)
    assert (await shipment_of(runtime, order_id)).status == "pending"
    sms.fail = False
    await drain(ctx)
    assert (await shipment_of(runtime, order_id)).status == "delivered"


async def test_concurrent_order_paid_jobs_create_one_shipment(
    jobs_runtime: Runtime, ctx: FulfillmentContext, orders: StubOrders, courier: Partner
) -> None:
    from fulfillment import handle_order_paid

    snap = orders.paid()
    results = await asyncio.gather(*(handle_order_paid(ctx, snap.order_id) for _ in range(3)))
    assert sum(results) >= 1
    async with jobs_runtime.sessions() as session:
        shipments = list(
            await session.scalars(select(Shipment).where(Shipment.order_id == snap.order_id))
        )
        dispatches = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == TOPIC_DISPATCH,
                OutboxMessage.payload["shipment_id"].as_string() == shipments[0].id,
            )
        )
    assert len(shipments) == 1 and dispatches == 1


async def test_partner_accepting_twice_after_a_lost_answer_books_one_cost(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    """The worker died after the partner accepted but before we recorded it: the redelivery
    sends the same key and body, the partner answers 2xx again, and the cost is booked once."""
    from fulfillment import handle_order_paid

    snap = orders.paid()
    await handle_order_paid(ctx, snap.order_id)
    shipment = await shipment_of(jobs_runtime, snap.order_id)
    first = await ctx.client.dispatch(
        courier.endpoint_url,
        courier.secret,
        shipment.id,
        shipment.request,
        int(jobs_runtime.clock.now().timestamp()),
    )
    assert first.status_code == 200  # ...and then the worker was killed: nothing recorded
    assert await dispatch(ctx, shipment.id) == "dispatched"
    assert await dispatch(ctx, shipment.id) == "skipped"
    assert partner_server.attempts[shipment.id] == 2
    assert len(partner_server.bodies_by_key()[shipment.id]) == 1
    async with jobs_runtime.sessions() as session:
        payables = await session.scalar(
            select(func.count())
            .select_from(PartnerPayable)
            .where(PartnerPayable.shipment_id == shipment.id)
        )
    assert payables == 1
