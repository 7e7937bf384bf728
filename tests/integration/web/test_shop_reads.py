"""The shop pages that read without a transaction (web.reads.READ_SESSION: the offer list
and the order page) show what the plain per-request transaction reads, and keep the rules:
a customer sees her order, another's is a not-found page."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import auth
import commerce
import payments
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from tests.auth_fixtures import TestCustomer, fixture_sessions, random_cn_mobile

Client = AsyncTestClient[Litestar]


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _order(runtime: Runtime, customer_id: str) -> tuple[str, str]:
    """A fresh offer with a unique title and an order of 2 seats for `customer_id`."""
    now = runtime.clock.now()
    title = f"Reads show {uuid.uuid4().hex[:8]}"
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title=title,
            venue="Shanghai Stadium",
            starts_at=now + timedelta(days=3),
            price=Money(12300, "CNY"),
            capacity=10,
            code=f"R{uuid.uuid4().hex[:5].upper()}",
            currency="CNY",
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=customer_id,
            lines=[commerce.LineRequest(offer.id, 2)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=Principal("customer", customer_id).actor,
            channel="web",
            settings=runtime.settings,
            now=now,
        )
    return title, order.id


@pytest.fixture
async def shop(client: Client, customer: TestCustomer) -> Client:
    client.cookies.clear()
    client.follow_redirects = False
    form = await client.get("/shop/sign-in")
    data = {"_csrf": _csrf(form.text), "phone": customer.phone, "pin": customer.pin}
    assert (await client.post("/shop/sign-in", data=data)).status_code == 303
    return client


async def test_order_page_shows_what_the_transaction_reads(
    shop: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    _, order_id = await _order(runtime, customer.id)
    async with fixture_sessions(runtime)() as s, s.begin():  # the plain path
        order = await commerce.get_order_for(s, order_id, Principal("customer", customer.id))
        paid = await payments.payments_for_order(s, order_id)
    page = await shop.get(f"/shop/orders/{order_id}")
    assert page.status_code == 200, page.text[:300]
    assert order.number in page.text and order.status == "awaiting_payment"
    assert "¥" in page.text and f"{order.total // 100:,}" in page.text
    assert paid == []

    async with fixture_sessions(runtime)() as s, s.begin():
        stranger = await auth.create_customer(runtime, s, phone=random_cn_mobile(), pin="274915")
    _, theirs = await _order(runtime, stranger.id)
    other = await shop.get(f"/shop/orders/{theirs}")
    assert other.status_code == 404 and other.headers["content-type"].startswith("text/html")


async def test_offer_list_shows_what_the_transaction_reads(
    shop: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    title, _ = await _order(runtime, customer.id)
    async with fixture_sessions(runtime)() as s, s.begin():  # the plain path
        found = await commerce.search_offers(
            s, now=runtime.clock.now(), zone=runtime.settings.zone, q=title, limit=20
        )
    [offer] = found.items
    page = await shop.get("/shop/", params={"q": title})
    assert page.status_code == 200
    assert page.text.count('class="card offer"') == 1
    assert title in page.text and f"/shop/offers/{offer.id}" in page.text
    assert f"{offer.available}" in page.text and offer.available == 8
