"""The caller's record's folded reads find what the reads they replace find, row for row
and in the same order: payments.carrier.customer_account_on (auth.get_customer_on +
account_on) and ticketing.contacts_on (customer_tickets_on + call_notes_on + outbox_on),
with and without a phone account, tickets, notes or texts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

import auth
import payments
import ticketing
from core.clock import TravelClock
from core.drivers import DriverPool
from core.errors import NotFound
from core.principal import Principal
from core.runtime import Runtime
from core.sms import SinkSmsProvider, SmsOutbox
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions
from web.console.caller import load_caller_on


@pytest.fixture
async def drivers(runtime: Runtime) -> AsyncIterator[DriverPool]:
    if runtime.drivers is None:
        pytest.skip("the asyncpg path is PostgreSQL's")
    pool = DriverPool(runtime.settings.database_url)  # the app's pool lives on another loop
    yield pool
    await pool.close()


async def _separately(pg: Any, customer_id: str, now: Any) -> dict[str, Any]:
    customer = await auth.get_customer_on(pg, customer_id)
    account = await payments.carrier.account_on(pg, customer_id)
    tickets = await ticketing.customer_tickets_on(pg, customer_id, now, limit=3)
    notes = await ticketing.call_notes_on(pg, customer_id, limit=2)
    texts = await SmsOutbox(SinkSmsProvider()).outbox_on(pg, customer.phone, limit=2)
    return {
        "customer": vars(customer),
        "account": vars(account) if account else None,
        "tickets": [(vars(t), view) for t, view in tickets],
        "notes": [vars(n) for n in notes],
        "texts": [vars(s) for s in texts],
    }


async def _folded(pg: Any, customer_id: str, now: Any) -> dict[str, Any]:
    customer, account = await payments.carrier.customer_account_on(pg, customer_id)
    seen = await ticketing.contacts_on(
        pg, customer_id, customer.phone, now, tickets=3, notes=2, texts=2
    )
    return {
        "customer": vars(customer),
        "account": vars(account) if account else None,
        "tickets": [(vars(t), view) for t, view in seen.tickets],
        "notes": [vars(n) for n in seen.notes],
        "texts": [vars(s) for s in seen.texts],
    }


async def test_an_empty_record_reads_alike(
    drivers: DriverPool, customer: TestCustomer, clock: TravelClock
) -> None:
    now = clock.now()
    plain = await drivers.read(lambda pg: _separately(pg, customer.id, now))
    fast = await drivers.read(lambda pg: _folded(pg, customer.id, now))
    assert fast == plain
    with pytest.raises(NotFound):
        await drivers.read(lambda pg: payments.carrier.customer_account_on(pg, "nobody"))
    staff = Principal("agent", "a" * 32, frozenset({"agent"}))
    with pytest.raises(NotFound):  # the page's one-statement record, too
        await drivers.read(
            lambda pg: load_caller_on(
                pg, staff, "nobody", sms=SmsOutbox(SinkSmsProvider()), verified_until=None, now=now
            )
        )


async def test_a_full_record_reads_alike(
    drivers: DriverPool,
    agent: TestAgent,
    customer: TestCustomer,
    runtime: Runtime,
    clock: TravelClock,
) -> None:
    now = clock.now()
    staff = Principal("agent", agent.id, frozenset({"agent"}))
    sms = SmsOutbox(SinkSmsProvider(), clock)
    async with fixture_sessions(runtime)() as s, s.begin():
        await payments.top_up(
            s, customer.id, 50000, reference=f"rec-{customer.id}", actor="system:test",
            currency="CNY", now=now,
        )  # fmt: skip
        for i in range(4):  # more of each than the record shows
            await ticketing.open_ticket(
                s, staff, now=now + timedelta(seconds=i), category="service",
                subject=f"Hold music {i}", description="Long.", priority="high",
                channel="phone", customer_id=customer.id,
            )  # fmt: skip
            await sms.send(s, customer.phone, f"Text {i}", purpose="order")
            await ticketing.add_call_note(
                s, staff, customer_id=customer.id, body=f"Note {i}", now=now + timedelta(seconds=i)
            )
    later = now + timedelta(hours=30)  # the SLA clocks have run, some past their targets
    plain = await drivers.read(lambda pg: _separately(pg, customer.id, later))
    fast = await drivers.read(lambda pg: _folded(pg, customer.id, later))
    assert len(fast["tickets"]) == 3 and len(fast["notes"]) == 2 and len(fast["texts"]) == 2
    assert fast["account"] is not None and fast["notes"][0]["agent_name"]
    assert fast == plain
