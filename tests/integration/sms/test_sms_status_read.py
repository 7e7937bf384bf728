"""STATUS reads orders with commerce.order_summaries (one Core statement, no entities), on
PostgreSQL with its plain-SQL twin order_summaries_on: both must find what list_orders, the
plain path, finds for the same customer and number."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
from api.app import create_app
from api.sms_channel.ordering import driver
from core.clock import TravelClock
from core.principal import Principal
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import make_customer
from tests.integration.sms.channel import make_offer, order_number, text
from tests.integration.sms.conftest import PUBLIC
from tests.twilio_server import TwilioServer

PIN = "274915"


@pytest.fixture(scope="module")
async def client(sms_settings: Settings, clock: TravelClock) -> AsyncIterator[Any]:
    app: Litestar = create_app(sms_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


async def test_status_summaries_match_the_orders_list_orders_finds(
    client: Any, twilio: TwilioServer, sms_rt: Runtime
) -> None:
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    other = await make_customer(sms_rt, locale="en", pin=PIN)
    offer = await make_offer(sms_rt, price=12050)
    numbers = [order_number(await sms(me.phone, f"BOOK {offer.code} {q}")) for q in (1, 2, 3, 1)]
    assert (await sms(me.phone, f"CANCEL {numbers[1]} {PIN}")).endswith("cancelled.")
    theirs = order_number(await sms(other.phone, f"BOOK {offer.code} 1"))

    def fields(o: Any) -> tuple[str, str, str, int, str]:
        return (o.id, o.number, o.status, o.total, o.currency)

    async with sms_rt.sessions() as s:
        pg = await driver(s)
        mine = Principal("customer", me.id)
        for number, limit in [(None, 3), (None, 10), (numbers[1], 1), (numbers[0], 1),
                              (numbers[2].lower(), 1), (theirs, 1), ("ZZZZZZZZ", 1)]:  # fmt: skip
            plain = await commerce.list_orders(s, mine, number=number, limit=limit)
            fast = await commerce.order_summaries(s, me.id, number=number, limit=limit)
            assert [fields(o) for o in fast] == [fields(o) for o in plain.items], number
            raw = await commerce.order_summaries_on(pg, me.id, number=number, limit=limit)
            assert raw == fast, number
        assert not await commerce.order_summaries(s, me.id, number=theirs, limit=1)
        assert len(await commerce.order_summaries(s, me.id, limit=10)) == 4

    # The replies STATUS builds from them.
    assert (await sms(me.phone, "STATUS")).count("\n") == 2
    assert await sms(me.phone, f"STATUS {numbers[1]}") == f"Order {numbers[1]}: cancelled, 246 CNY."
    assert "125.50" in await sms(me.phone, f"status {numbers[0]}")
    assert await sms(me.phone, f"STATUS {theirs}") == f"No order {theirs}."
