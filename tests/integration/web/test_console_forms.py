"""What the console's forms refuse, and how the refusal reads: control characters in the
wrap-up note, a search date or delivery method the shop and the API refuse, bytes that are
not UTF-8, a form too large to take; each fragment names the field and why in the page's
language (web/words.py), the way the shop's pages do."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

import commerce
import ticketing
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions

Client = AsyncTestClient[Litestar]
ZH = {"HX-Request": "true", "Accept-Language": "zh-CN"}
EN = {"HX-Request": "true", "Accept-Language": "en"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


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
        assert "<strong>Wrap-up note</strong>: must not contain control characters" in r.text
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
        assert "<strong>日期</strong>：请填写日期，例如 2027-01-31" in _problem(r.text)
    boat = await browser.get(f"{base}/quote?offer={offer.id}&qty=1&method=boat", headers=ZH)
    assert boat.status_code == 422, boat.text[:300]
    assert "<strong>配送</strong>：请选择电子票或快递" in _problem(boat.text)
    ok = await browser.get(f"{base}/quote?offer={offer.id}&qty=1&method=e_ticket", headers=ZH)
    assert ok.status_code == 200
    assert (await browser.get(f"{base}/offers?on=2031-02-28", headers=ZH)).status_code == 200


async def test_form_errors_name_the_field_and_why_in_the_pages_language(
    browser: Client, agent: TestAgent, customer: TestCustomer, runtime: Runtime
) -> None:
    offer = await _offer(runtime)
    async with fixture_sessions(runtime)() as s, s.begin():
        t = await ticketing.open_ticket(
            s, Principal("agent", agent.id, frozenset({"agent"})), now=runtime.clock.now(),
            category="service", subject="Hold music", description="Too long.", priority="high",
            channel="phone", customer_id=customer.id,
        )  # fmt: skip
    token = await _sign_in(browser, agent)
    base = f"/console/customers/{customer.id}"
    place = {"offer_id": offer.id, "qty": "1", "method": "boat", "idempotency_key": "form-k1"}
    cases = [
        ("get", f"{base}/quote?offer={offer.id}&qty=0", None, "数量", "座位数须为 1 到 100"),
        ("post", f"{base}/orders", place, "配送", "请选择电子票或快递"),
        ("post", f"{base}/orders", {**place, "qty": "x"}, "数量", "座位数须为 1 到 100"),
        ("post", f"{base}/wrap-up", {"note": " "}, "通话小结", "须为 1 到 2000 个字符"),
        ("post", f"/console/tickets/{t.id}/comments", {"body": ""}, "留言", "须为 1 到 10000"),
        ("post", f"{base}/complaints", {"subject": "x"}, "订单", "请选择投诉涉及的订单"),
    ]
    for how, url, data, label, message in cases:
        h = {**ZH, "X-CSRF-Token": token}
        r = await getattr(browser, how)(url, **({"data": data} if data else {}), headers=h)
        assert r.status_code == 422, (url, r.text[:300])
        shown = _problem(r.text)
        assert "表单中有内容不正确" in shown and f"<strong>{label}</strong>：" in shown, shown
        assert message in shown, shown
        assert not re.search(r"[a-z]{4,}", re.sub(r"<[^>]+>", "", shown)), shown  # no English


async def test_a_form_too_large_gets_its_own_message_in_both_languages(
    browser: Client, agent: TestAgent, customer: TestCustomer
) -> None:
    token = await _sign_in(browser, agent)
    url = f"/console/customers/{customer.id}/wrap-up"
    big = b"note=" + b"a" * (12 * 1024 * 1024)
    for lang, heading in ((ZH, "表单太大"), (EN, "The form is too large")):
        r = await browser.post(url, content=big, headers={**lang, **FORM, "X-CSRF-Token": token})
        assert r.status_code == 413, r.text[:300]
        assert 'data-problem="too-large"' in r.text and heading in r.text, r.text
        assert "Entity" not in r.text


async def test_a_form_that_is_not_utf8_is_refused_not_stored_as_question_marks(
    browser: Client, agent: TestAgent, customer: TestCustomer, runtime: Runtime
) -> None:
    h = {**ZH, **FORM, "X-CSRF-Token": await _sign_in(browser, agent)}
    url = f"/console/customers/{customer.id}/wrap-up"
    r = await browser.post(url, content=b"note=%FF%FE", headers=h)
    assert r.status_code == 422, r.text[:300]
    assert "<strong>通话小结</strong>：" in _problem(r.text) and "UTF-8" in r.text
    raw = await browser.post(url, content=b"note=ok\xff", headers=h)
    assert raw.status_code == 422
    assert await _notes(runtime, customer.id) == 0
    # the shop's forms alike (its sign-in form, before anything is checked)
    form = await browser.get("/shop/sign-in")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token
    body = f"_csrf={token.group(1)}&phone=%C0%AF&pin=1".encode()
    shop = await browser.post("/shop/sign-in", content=body, headers=FORM)
    assert shop.status_code == 422 and shop.headers["content-type"].startswith("text/html")
    assert "UTF-8" in shop.text
