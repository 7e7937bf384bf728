"""The caller's record read as plain SQL on one asyncpg connection (web.console.caller
.load_caller_on, the page's fast path) shows exactly what the rooms' ORM functions show
(load_caller, the plain path): every field the page prints of the profile, the phone
account, orders with payments and shipments, tickets with their SLA clocks, texts and
wrap-up notes with their agent's name."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

import auth
import commerce
import fulfillment
import payments
import ticketing
from core.clock import TravelClock
from core.drivers import DriverPool
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from core.sms import SinkSmsProvider, SmsOutbox
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions
from web.console.caller import Caller, load_caller, load_caller_on


def _seen(c: Caller) -> dict[str, Any]:
    """What caller.html reads of the record."""
    u, a = c.customer, c.account
    return {
        "customer": (u.id, u.phone, u.name, u.locale, bool(u.pin_hash), u.locked, u.created_at),
        "account": (a.balance, a.credit_limit, a.currency) if a else None,
        "orders": [
            (
                r.order.id,
                r.order.number,
                r.order.status,
                r.order.total,
                r.order.currency,
                r.order.created_at,
                [(p.method, p.status) for p in r.payments],
                [(s.partner_code, s.status, s.tracking_number) for s in r.shipments],
            )
            for r in c.orders
        ],
        "tickets": [
            (t.ticket.id, t.ticket.number, t.ticket.subject, t.ticket.status, t.view)
            for t in c.tickets
        ],
        "sms": [(s.id, s.created_at, s.purpose, s.status, s.body) for s in c.sms],
        "notes": [(n.id, n.created_at, n.agent_id, n.body) for n in c.notes],
    }


async def test_the_plain_sql_record_shows_what_the_orm_record_shows(
    agent: TestAgent, customer: TestCustomer, runtime: Runtime, clock: TravelClock
) -> None:
    if runtime.drivers is None:
        pytest.skip("the asyncpg path is PostgreSQL's")
    now = clock.now()
    staff = Principal("agent", agent.id, frozenset({"agent"}))
    sms = SmsOutbox(SinkSmsProvider(), clock)
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s, kind="event", title="Plain seats", venue="Hall", price=Money(12800, "CNY"),
            starts_at=now + timedelta(days=9), capacity=5, now=now,
        )  # fmt: skip
        await payments.top_up(
            s, customer.id, 50000, reference=f"pg-{customer.id}", actor="system:test",
            currency="CNY", now=now,
        )  # fmt: skip
        orders = []
        for i in range(3):
            orders.append(
                await commerce.place_order(
                    s,
                    customer_id=customer.id,
                    lines=[commerce.LineRequest(offer.id, 1)],
                    delivery_method="e_ticket",
                    delivery_address=None,
                    actor=f"customer:{customer.id}",
                    channel="phone",
                    settings=runtime.settings,
                    now=now + timedelta(seconds=i),
                )
            )
        partner = fulfillment.Partner(
            code=f"pg-{uuid.uuid4().hex[:8]}", name="Courier", kind="http",
            delivery_method="courier", endpoint_url="http://127.0.0.1:9/", secret="x" * 32,
            currency="CNY", active=False, created_at=now,
        )  # fmt: skip
        s.add(partner)
        await s.flush()
        for order, status, tracking in (
            (orders[0], "dispatched", "SF123"),
            (orders[1], "pending", None),
        ):
            shipment = fulfillment.Shipment(
                order_id=order.id, partner_id=partner.id, status=status, request={},
                tracking_number=tracking, created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(shipment)
        await ticketing.open_ticket(
            s, staff, now=now, category="service", subject="Hold music", description="Long.",
            priority="high", channel="phone", customer_id=customer.id,
        )  # fmt: skip
        await sms.send(s, customer.phone, "Your seats are held.", purpose="order")
        await ticketing.add_call_note(
            s, staff, customer_id=customer.id, body="Called about seats.", now=now
        )
        await payments.carrier.charge if False else None
    later = now + timedelta(hours=1)
    async with fixture_sessions(runtime)() as session:
        plain = await load_caller(
            session, staff, customer.id, sms=sms, verified_until=None, now=later
        )
        agent_name = (await auth.get_agent(session, agent.id)).display_name
    drivers = DriverPool(runtime.settings.database_url)  # the app's pool lives on another loop
    try:
        fast = await drivers.read(
            lambda pg: load_caller_on(
                pg, staff, customer.id, sms=sms, verified_until=None, now=later
            )
        )
    finally:
        await drivers.close()
    assert len(plain.orders) == 3 and len(plain.tickets) == 1 and plain.account is not None
    assert sorted(len(r.shipments) for r in plain.orders) == [0, 1, 1]
    assert len(plain.sms) == 1 and len(plain.notes) == 1
    assert _seen(fast) == _seen(plain)
    assert [n.agent_name for n in fast.notes] == [agent_name]
