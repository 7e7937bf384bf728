"""A shipment that failed for good becomes one `delivery` ticket (channel system, priority
high) linked to its order, through the outbox relay; the same message twice, or two
deliveries racing, still make one ticket."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select

import commerce
import fulfillment
import ticketing
from api import ticketing_events
from api.composition import build_services
from api.outbox_jobs import in_process_sender
from core import outbox
from core.broker import InProcessSender
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from tests.auth_fixtures import make_customer
from ticketing.models import Ticket

STAFF = Principal("agent", uuid.uuid4().hex, frozenset({"agent"}))


async def failed_shipment(rt: Runtime) -> tuple[str, str, str]:
    """(order id, customer id, shipment id): a courier order whose shipment failed."""
    now = rt.clock.now()
    who = await make_customer(rt)
    async with rt.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title=f"五月天 {uuid.uuid4().hex[:6]}",
            venue="鸟巢",
            starts_at=now + timedelta(days=10),
            price=Money(48000, "CNY"),
            capacity=5,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=who.id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="courier",
            delivery_address="北京市朝阳区国家体育场南路1号",
            actor=f"customer:{who.id}",
            channel="web",
            settings=rt.settings,
            now=now,
        )
        partner = fulfillment.Partner(
            code=f"gone-{uuid.uuid4().hex[:8]}",
            name="Defunct courier",
            kind="http",
            delivery_method="courier",
            endpoint_url="http://127.0.0.1:9/",
            secret="x" * 32,
            currency="CNY",
            active=False,  # never chosen for anyone else's order
            created_at=now,
        )
        s.add(partner)
        await s.flush()
        shipment = fulfillment.Shipment(
            order_id=order.id,
            partner_id=partner.id,
            status="failed",
            request={},
            attempts=1,
            last_error="422 address does not exist",
            created_at=now,
            updated_at=now,
        )
        s.add(shipment)
    return order.id, who.id, shipment.id


async def tickets_for(rt: Runtime, shipment_id: str) -> list[Ticket]:
    async with rt.sessions() as s:
        rows = await s.execute(
            select(Ticket).where(Ticket.source_key == f"shipment_failed:{shipment_id}")
        )
        return list(rows.scalars())


async def test_failed_shipment_opens_one_delivery_ticket_through_the_relay(
    tk_runtime: Runtime,
) -> None:
    rt = tk_runtime
    topic = fulfillment.TOPIC_SHIPMENT_FAILED
    # Wired for both ways a message reaches its job: in-process and Dramatiq workers.
    assert topic in in_process_sender(build_services(rt)).topics
    assert topic in ticketing_events.ROUTES
    order_id, customer_id, shipment_id = await failed_shipment(rt)
    async with rt.sessions() as s, s.begin():
        for _ in range(2):  # delivered twice (at-least-once relay, or a replayed fact)
            outbox.emit(s, topic, {"shipment_id": shipment_id}, now=rt.clock.now())
    sender = InProcessSender(ticketing_events.handlers(build_services(rt)))
    sent = await outbox.relay_once(rt.sessions, sender, now=rt.clock.now())
    assert sent >= 2
    found = await tickets_for(rt, shipment_id)
    assert len(found) == 1
    t = found[0]
    assert (t.category, t.channel, t.priority, t.customer_id) == (
        "delivery",
        "system",
        "high",
        customer_id,
    )
    async with rt.sessions() as s:
        view = await ticketing.ticket_view(s, t, STAFF, rt.clock.now())
        pending = await s.scalar(
            select(func.count())
            .select_from(outbox.OutboxMessage)
            .where(outbox.OutboxMessage.topic == topic, outbox.OutboxMessage.sent_at.is_(None))
        )
    assert view["order_ids"] == [order_id] and "address does not exist" in view["description"]
    assert view["timeline"][0]["actor"] == "system:fulfillment"
    assert pending == 0


async def test_racing_deliveries_still_make_one_ticket(tk_runtime: Runtime) -> None:
    rt = tk_runtime
    _, _, shipment_id = await failed_shipment(rt)
    outcomes = await asyncio.gather(
        *(ticketing_events.ticket_for_failed_shipment(rt, shipment_id) for _ in range(3))
    )
    assert sorted(outcomes) == ["duplicate", "duplicate", "opened"]
    assert len(await tickets_for(rt, shipment_id)) == 1
    assert await ticketing_events.ticket_for_failed_shipment(rt, "nope") == "unknown"
