"""The real chain with the commerce room: an order is paid (commerce emits `order.paid`), the
relay runs the fulfillment job, the order becomes `fulfilling`, the partner's `delivered`
callback makes it `fulfilled`, and the delivery cost is in the payments ledger."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

import commerce
from core.money import Money
from core.runtime import Runtime
from fulfillment import CommerceOrders, FulfillmentContext, Partner
from fulfillment.domain import sign
from fulfillment.tracking import order_shipments
from tests.integration.fulfillment.conftest import drain
from tests.partner_server import PartnerServer


async def _paid_courier_order(runtime: Runtime) -> str:
    now = runtime.clock.now()
    customer = uuid.uuid4().hex
    async with runtime.sessions() as session, session.begin():
        offer = await commerce.create_offer(
            session,
            kind="event",
            title=f"五月天 演唱会 {uuid.uuid4().hex[:6]}",
            venue="鸟巢",
            starts_at=now + timedelta(days=10),
            price=Money(48000, "CNY"),
            capacity=5,
            now=now,
        )
        order = await commerce.place_order(
            session,
            customer_id=customer,
            lines=[commerce.LineRequest(offer.id, 2)],
            delivery_method="courier",
            delivery_address="北京市朝阳区国家体育场南路1号",
            actor=f"customer:{customer}",
            channel="web",
            settings=runtime.settings,
            now=now,
        )
    async with runtime.sessions() as session, session.begin():
        result = await commerce.mark_paid(
            session, order.id, actor="system", channel="system", reason="test", now=now
        )
        assert result.outcome == "paid"
    return order.id


async def _order_status(runtime: Runtime, order_id: str) -> str:
    async with runtime.sessions() as session:
        return (await commerce.get_order(session, order_id)).status


async def test_paid_commerce_order_is_shipped_fulfilled_and_costed(
    client: AsyncTestClient[Litestar],
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    order_id = await _paid_courier_order(jobs_runtime)
    await drain(ctx)
    assert await _order_status(jobs_runtime, order_id) == "fulfilling"
    async with jobs_runtime.sessions() as session:
        [shipment] = await order_shipments(session, order_id)
    assert shipment.status == "dispatched"
    [received] = [r for r in partner_server.received if r.key == shipment.id]
    body = json.loads(received.body)
    assert body["delivery_method"] == "courier"
    assert body["items"][0]["quantity"] == 2 and len(body["items"][0]["codes"]) == 2
    assert body["recipient"]["address"].startswith("北京市")

    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "shipment_id": shipment.id,
        "status": "delivered",
        "occurred_at": jobs_runtime.clock.now().isoformat(),
    }
    raw = json.dumps(event).encode()
    r = await client.post(
        f"/v1/webhooks/partners/{courier.code}",
        content=raw,
        headers={"Hotline-Signature": sign(partner_server.secret, raw, int(time.time()))},
    )
    assert r.status_code == 200 and r.json() == {"outcome": "applied"}, r.text
    assert await _order_status(jobs_runtime, order_id) == "fulfilled"

    async with jobs_runtime.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT e.account, e.amount FROM ledger_entries e JOIN ledger_transactions t"
                    " ON t.id = e.transaction_id"
                    " WHERE t.order_id = :o AND t.kind = 'partner_delivery_cost'"
                ),
                {"o": order_id},
            )
        ).all()
    assert sorted(rows) == [("delivery_cost", 1500), ("partner_payable", -1500)]


async def test_order_cancelled_before_the_job_runs_never_ships(
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    ctx.orders = CommerceOrders()
    order_id = await _paid_courier_order(jobs_runtime)
    async with jobs_runtime.sessions() as session, session.begin():
        await commerce.transition(
            session,
            order_id,
            commerce.OrderStatus.CANCELLED,
            actor="agent:test",
            channel="phone",
            reason="caller changed their mind",
            now=jobs_runtime.clock.now(),
        )
    await drain(ctx)
    async with jobs_runtime.sessions() as session:
        assert await order_shipments(session, order_id) == []
    assert await _order_status(jobs_runtime, order_id) == "cancelled"
    assert partner_server.received == []
