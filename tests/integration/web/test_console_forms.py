"""What the console's forms refuse, and how the refusal reads: control characters in the
wrap-up note, a search date or delivery method the shop and the API refuse, bytes that are
not UTF-8, a form too large to take; each fragment names the field and why in the page's
language (web/words.py), the way the shop's pages do."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

import commerce
import ticketing
from core.money import Money
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions

Client = AsyncTestClient[Litestar]
ZH = {"HX-Request": "true", "Accept-Language": "zh-CN"}
EN = {"HX-Request": "true", "Accept-Language": "en"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def browser(client: Client) -> AsyncIterator[Client]:
    client.cookies.clear()
    follows, client.follow_redirects = client.follow_redirects, False
    yield client
    client.follow_redirects = follows
    client.cookies.clear()


async def _sign_in(c: Client, who: TestAgent) -> str:
    form = await c.get("/console/sign-in")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token
    data = {"_csrf": token.group(1), "username": who.username, "password": who.password}
    assert (await c.post("/console/sign-in", data=data)).status_code == 303
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', (await c.get("/console/")).text)
    assert csrf
    return csrf.group(1)


def _problem(html: str) -> str:
    found = re.search(r'<div class="error" role="alert"[^>]*>(.*?)</div>\s*$', html, re.S)
    assert found, html[:600]
    return found.group(1)


async def _offer(runtime: Runtime) -> commerce.Offer:
    now = runtime.clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        return await commerce.create_offer(
            s, kind="event", title="Form seats", venue="Hall", price=Money(50000, "CNY"),
            starts_at=now + timedelta(days=9), capacity=5, now=now,
        )  # fmt: skip


async def _notes(runtime: Runtime, customer_id: str) -> int:
    async with fixture_sessions(runtime)() as s:
        found = select(func.count()).where(ticketing.CallNote.customer_id == customer_id)
        return int(await s.scalar(found) or 0)


async def test_a_wrap_up_note_with_a_control_character_is_refused_by_name(
    browser: Client, agent: TestAgent, customer: TestCustomer, runtime: Runtime
) -> None:
    h = {**EN, "X-CSRF-Token": await _sign_in(browser, agent)}
    url = f"/console/customers/{customer.id}/wrap-up"
    for note in ("a\x1b", "booked\x1b[31m 2 seats", "bell\x07"):
        r = await browser.post(url, data={"note": note}, headers=h)
        assert r.status_code == 422 and 'data-problem="validation-error"' in r.text, r.text
        assert "must not contain control characters" in r.text
    assert await _notes(runtime, customer.id) == 0
    lines = await browser.post(url, data={"note": "Booked 2 seats.\r\n\tPay link sent."}, headers=h)
    assert lines.status_code == 200 and "wrap-up-saved" in lines.text


async def test_the_offer_search_and_the_quote_refuse_what_the_shop_refuses(
    browser: Client, agent: TestAgent, customer: TestCustomer, runtime: Runtime
) -> None:
    offer = await _offer(runtime)
    await _sign_in(browser, agent)
    base = f"/console/customers/{customer.id}"
    for day in ("2031-02-30", "abc", "2026-13-01"):
        shop = await browser.get(f"/shop/?on={day}")
        api = await browser.get(f"/v1/offers?on={day}")
        assert shop.status_code == api.status_code == 422, day
        r = await browser.get(f"{base}/offers?on={day}", headers=ZH)
        assert r.status_code == 422 and 'data-problem="validation-error"' in r.text, r.text[:300]
        assert "on: a date such as 2027-01-31" in _problem(r.text)
    boat = await browser.get(f"{base}/quote?offer={offer.id}&qty=1&method=boat", headers=ZH)
    assert boat.status_code == 422, boat.text[:300]
    assert "method: e_ticket or courier" in _problem(boat.text)
    ok = await browser.get(f"{base}/quote?offer={offer.id}&qty=1&method=e_ticket", headers=ZH)
    assert ok.status_code == 200
    assert (await browser.get(f"{base}/offers?on=2031-02-28", headers=ZH)).status_code == 200
