"""The caller's record read on the autocommit pool (web.console.caller.read_only, the page's
fast path) shows exactly what the request's transaction (the plain path) shows: orders with
payments, tickets with their SLA clocks, the phone account."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import commerce
import payments
import ticketing
from core.clock import TravelClock
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from core.sms import SinkSmsProvider, SmsOutbox
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions
from web.console.caller import Caller, load_caller, read_only


def _seen(c: Caller) -> dict[str, Any]:
    return {
        "customer": c.customer.id,
        "account": (c.account.balance, c.account.credit_limit) if c.account else None,
        "orders": [
            (r.order.id, r.order.status, r.order.total, [(p.id, p.status) for p in r.payments])
            for r in c.orders
        ],
        "tickets": [(t.ticket.id, t.view) for t in c.tickets],
        "sms": [s.id for s in c.sms],
        "notes": [n.id for n in c.notes],
    }


async def test_the_read_only_session_sees_what_the_request_session_sees(
    agent: TestAgent, customer: TestCustomer, runtime: Runtime, clock: TravelClock
) -> None:
    now = clock.now()
    staff = Principal("agent", agent.id, frozenset({"agent"}))
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="Read-only seats",
            venue="Hall",
            price=Money(12800, "CNY"),
            starts_at=now + timedelta(days=9),
            capacity=5,
            now=now,
        )
        await payments.top_up(
            s, customer.id, 50000, reference=f"ro-{customer.id}", actor="system:test",
            currency="CNY", now=now,
        )  # fmt: skip
        for _ in range(2):
            await commerce.place_order(
                s,
                customer_id=customer.id,
                lines=[commerce.LineRequest(offer.id, 1)],
                delivery_method="e_ticket",
                delivery_address=None,
                actor=f"customer:{customer.id}",
                channel="phone",
                settings=runtime.settings,
                now=now,
            )
        await ticketing.open_ticket(
            s, staff, now=now, category="service", subject="Hold music", description="Long.",
            priority="high", channel="phone", customer_id=customer.id,
        )  # fmt: skip
    sms = SmsOutbox(SinkSmsProvider())
    later = now + timedelta(hours=1)
    sessions = fixture_sessions(runtime)  # unpooled: the app's pool lives on another loop
    async with sessions() as session:
        plain = await load_caller(
            session, staff, customer.id, sms=sms, verified_until=None, now=later
        )
    engine = sessions.kw["bind"]
    unpooled: Any = SimpleNamespace(
        autocommit=lambda: engine.execution_options(isolation_level="AUTOCOMMIT")
    )
    async with read_only(unpooled) as session:
        fast = await load_caller(
            session, staff, customer.id, sms=sms, verified_until=None, now=later
        )
    assert len(plain.orders) == 2 and len(plain.tickets) == 1 and plain.account is not None
    assert _seen(fast) == _seen(plain)
