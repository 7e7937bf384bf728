"""The consumers of `payment.incident` and `ticket.escalated` do something an operations team
can act on, and a message delivered twice does it once: an incident opens one `payment`
ticket on its order (priority by kind); an escalation is announced live (log + counter)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import structlog
from prometheus_client import REGISTRY
from sqlalchemy import select
from structlog.testing import capture_logs

import commerce
import payments
import ticketing
from api import outbox_routes
from api.composition import build_services
from core.money import Money
from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from payments.incidents import incident
from payments.orders import CommerceOrders
from tests.auth_fixtures import make_customer
from ticketing import notifications
from ticketing.models import Ticket, TicketOrder

AGENT = Principal("agent", uuid.uuid4().hex, frozenset({"agent", "supervisor", "finance"}))


async def paid_order(rt: Runtime) -> tuple[commerce.Order, payments.Payment]:
    now = rt.clock.now()
    who = await make_customer(rt)
    deps = payments.PaymentDeps(orders=CommerceOrders(), gateway=None, public_base_url="http://x")
    async with rt.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title=f"张学友 {uuid.uuid4().hex[:6]}",
            venue="红磡体育馆",
            starts_at=now + timedelta(days=20),
            price=Money(38000, "CNY"),
            capacity=5,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=who.id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=AGENT.actor,
            channel="phone",
            settings=rt.settings,
            now=now,
        )
        await payments.carrier.open_account(s, who.id, currency="CNY", now=now, balance=90000)
        payment = await payments.start_payment(
            s, deps, order.id, "carrier_billing", principal=AGENT, request_key="k", now=now
        )
    return order, payment


async def test_payment_incident_opens_one_payment_ticket(ob_runtime: Runtime) -> None:
    rt = ob_runtime
    order, payment = await paid_order(rt)
    async with rt.sessions() as s, s.begin():
        incident(s, payment, "dispute", "dispute dp_1: 38500 claimed", rt.clock.now())
    async with rt.sessions() as s:
        message = await s.scalar(
            select(OutboxMessage).where(
                OutboxMessage.topic == payments.TOPIC_PAYMENT_INCIDENT,
                OutboxMessage.payload["payment_id"].as_string() == payment.id,
            )
        )
    assert message is not None
    handle = outbox_routes.handlers(build_services(rt))[payments.TOPIC_PAYMENT_INCIDENT]
    assert [await handle(message.payload) for _ in range(2)] == ["opened", "duplicate"]
    async with rt.sessions() as s:
        tickets = list(
            await s.scalars(
                select(Ticket)
                .join(TicketOrder, TicketOrder.ticket_id == Ticket.id)
                .where(TicketOrder.order_id == order.id)
            )
        )
    assert [(t.category, t.priority, t.customer_id) for t in tickets] == [
        ("payment", "high", order.customer_id)
    ]
    assert "dispute dp_1" in tickets[0].description


async def test_escalation_is_announced_to_each_notified_agent(
    ob_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle = outbox_routes.handlers(build_services(ob_runtime))[ticketing.TOPIC_TICKET_ESCALATED]
    labels = {"clock": "first_response", "level": "90"}
    before = REGISTRY.get_sample_value("hotline_ticket_escalations_total", labels) or 0
    with capture_logs() as logs:
        # A logger already used under the app's logging config is cached and would bypass
        # the capture (other tests build apps first): log through a fresh one here.
        monkeypatch.setattr(notifications, "log", structlog.get_logger("hotline.test"))
        outcome = await handle(
            {
                "ticket_id": "t1",
                "clock": "first_response",
                "cycle": 1,
                "level": "90",
                "notify": ["a1", "a2"],
            }
        )
    assert outcome == "announced"
    assert REGISTRY.get_sample_value("hotline_ticket_escalations_total", labels) == before + 1
    announced = [e for e in logs if e["event"] == "ticket escalated"]
    assert [(e["agent_id"], e["ticket_id"], e["level"]) for e in announced] == [
        ("a1", "t1", "90"),
        ("a2", "t1", "90"),
    ]
