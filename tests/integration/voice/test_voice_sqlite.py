"""The embedded demo (`make run`: SQLite, no Redis): the call's state in memory and its record
through the ORM session (no asyncpg pool), a whole call from the PIN to the hang-up, and a
payment by keypad."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
import payments
import ticketing
from api.app import create_app
from api.migrate import upgrade
from core.clock import TravelClock
from core.runtime import Runtime
from tests.auth_fixtures import make_customer
from tests.conftest import make_test_settings

from .conftest import PUBLIC, TOKEN, caller, top_up, unpaid_order


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[tuple[Runtime, AsyncTestClient[Litestar]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)
    settings = dataclasses.replace(
        make_test_settings(url, redis_url=""), twilio_auth_token=TOKEN, public_base_url=PUBLIC
    )
    rt = Runtime.build(settings, clock=TravelClock())
    assert rt.drivers is None and rt.redis is None
    async with AsyncTestClient(app=create_app(runtime=rt), base_url="http://demo.local") as client:
        yield rt, client
    await rt.close()


async def test_a_whole_call_on_sqlite_with_memory_state(sqlite_app) -> None:
    rt, client = sqlite_app
    customer = await make_customer(rt, locale="en")
    order = await unpaid_order(rt, customer.id, price=5000)
    await top_up(rt, customer.id, 20000)
    c = caller(client, customer.phone)
    said = await c.walk(["1", customer.pin + "#", "2", "1", "0"])
    assert "Your latest order" in said[2].text and "waiting for payment" in said[2].text
    assert "is paid: 55.00 yuan" in said[4].text
    assert said[5].enqueued == "billing"
    assert await c.hang_up("completed", duration=40) == 204
    async with rt.sessions() as s:
        assert (await commerce.get_order(s, order.id)).status != "awaiting_payment"
        assert [p.method for p in await payments.payments_for_order(s, order.id)] == [
            "carrier_billing"
        ]
        call = await ticketing.get_call(s, c.call_sid)
    assert call.status == "ended" and call.outcome == "abandoned"
    assert call.menu_path == [
        "1", "pin:ok", "done:order-status", "2", "pay:offered", "done:paid", "0",
        "queue:billing",
    ]  # fmt: skip
    assert call.verification == "verified" and call.duration_seconds == 40
