"""The offer list and the order page read through asyncpg's pool on PostgreSQL and through a
session without it (SQLite, web.shop.browse/orders' plain path): both apps show the same
pages, and a stranger's order is a not-found page on both."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
from api.app import create_app
from core.clock import TravelClock
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import TestCustomer, fixture_sessions

Client = AsyncTestClient[Litestar]
_CHANGING = (  # per request: tokens, keys, the countdown's seconds
    re.compile(r'name="(_csrf|idempotency_key)" value="[^"]*"'),
    re.compile(r">\d+:\d\d</strong>"),
)


@pytest.fixture
async def plain(settings: Settings, clock: TravelClock) -> AsyncIterator[Client]:
    """An app of its own whose runtime has no asyncpg pool, as on SQLite."""
    runtime = Runtime.build(settings, clock=clock)
    runtime.drivers = None
    async with AsyncTestClient(
        create_app(runtime=runtime), base_url="http://testserver.local"
    ) as c:
        yield c


async def _pages(c: Client, who: TestCustomer, paths: list[str]) -> list[tuple[int, str]]:
    """Sign `who` in through the form, then each page's status and text."""
    c.cookies.clear()
    form = (await c.get("/shop/sign-in")).text
    token = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert token is not None
    data = {"_csrf": token.group(1), "phone": who.phone, "pin": who.pin}
    assert (await c.post("/shop/sign-in", data=data, follow_redirects=False)).status_code == 303
    shown = []
    for path in paths:
        r = await c.get(path)
        text = r.text
        for changing in _CHANGING:
            text = changing.sub("", text)
        shown.append((r.status_code, text))
    c.cookies.clear()
    return shown


async def test_both_paths_show_the_same_pages(
    client: Client,
    plain: Client,
    runtime: Runtime,
    customer: TestCustomer,
    other_customer: TestCustomer,
) -> None:
    word, now = f"Reads{uuid.uuid4().hex[:6]}", runtime.clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title=f"{word} show",
            venue="Shanghai Stadium",
            starts_at=now + timedelta(days=3),
            price=Money(12300, "CNY"),
            capacity=10,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=customer.id,
            lines=[commerce.LineRequest(offer.id, 2)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=Principal("customer", customer.id).actor,
            channel="web",
            settings=runtime.settings,
            now=now,
        )
    paths = [f"/shop/?q={word}", f"/shop/?q={word}&kind=train", f"/shop/orders/{order.id}"]
    fast = await _pages(client, customer, paths)
    assert fast == await _pages(plain, customer, paths)
    assert [status for status, _ in fast] == [200, 200, 200]
    assert f"{word} show" in fast[0][1] and f"{word} show" not in fast[1][1]
    assert order.number in fast[2][1]
    assert '<li aria-current="step">' in fast[2][1]  # held: the checkout's step bar, at "Pay"
    for each in (client, plain):
        [(status, _)] = await _pages(each, other_customer, [f"/shop/orders/{order.id}"])
        assert status == 404


async def test_an_order_the_sweeper_expired_still_says_why_and_what_next(
    client: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    """Past its hold an order is first still awaiting payment, then `expired` once the hold
    sweeper ran: the customer reads the same explanation and next step on both (the
    explanation used to vanish with the sweep, leaving a bare badge)."""
    now = runtime.clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s, kind="event", title="Expiry show", venue="Shanghai Stadium",
            starts_at=now + timedelta(days=3), price=Money(5000, "CNY"), capacity=5, now=now,
        )  # fmt: skip
        order = await commerce.place_order(
            s, customer_id=customer.id, lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket", delivery_address=None,
            actor=Principal("customer", customer.id).actor, channel="web",
            settings=runtime.settings, now=now,
        )  # fmt: skip
    later = now + timedelta(minutes=runtime.settings.hold_minutes + 1)
    async with fixture_sessions(runtime)() as s, s.begin():
        assert await commerce.expire_due_holds(s, later) >= 1
    [(status, text)] = await _pages(client, customer, [f"/shop/orders/{order.id}"])
    assert status == 200 and 'data-status="expired"' in text
    assert '<p class="problem" role="alert">保留时间已过' in text  # the customer's zh
    assert 'href="/shop/"' in text
    assert 'class="steps"' not in text  # the checkout never reached "Done"
