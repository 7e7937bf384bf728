"""Who may open the shop and how, in-process against PostgreSQL and Redis (no browser): the
API's sign-in rules (one answer for an unknown number and a wrong PIN, the lock), CSRF on
every form, sessions kept apart from the console's, and errors as pages, never JSON."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
from core.money import Money
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions

Client = AsyncTestClient[Litestar]


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def _error(html: str) -> str:
    found = re.search(r'<p class="error"[^>]*>(.*?)</p>', html, re.S)
    return found.group(1).strip() if found else ""


async def _sign_in(c: Client, phone: str, pin: str) -> tuple[int, str]:
    form = await c.get("/shop/sign-in")
    r = await c.post("/shop/sign-in", data={"_csrf": _csrf(form.text), "phone": phone, "pin": pin})
    return r.status_code, r.text


async def test_unknown_number_and_wrong_pin_get_the_same_page(
    browser: Client, customer: TestCustomer
) -> None:
    wrong = await _sign_in(browser, customer.phone, "000000" if customer.pin != "000000" else "1")
    unknown = await _sign_in(browser, "+8613311112222", customer.pin)
    assert wrong[0] == unknown[0] == 401
    assert _error(wrong[1]) == _error(unknown[1]) != ""


async def test_the_lock_after_wrong_pins_points_to_the_sms_reset(
    browser: Client, customer: TestCustomer, settings: Settings
) -> None:
    status = 0
    for _ in range(settings.pin_max_failures + 1):
        status, text = await _sign_in(browser, customer.phone, "975318")
    assert status == 429, text[:300]
    assert 'href="/shop/code' in text and 'role="alert"' in text  # what happened, a way out
    ok, _ = await _sign_in(browser, customer.phone, customer.pin)
    assert ok == 429  # locked even with the right PIN until the SMS reset


async def test_every_form_needs_the_csrf_token(browser: Client, customer: TestCustomer) -> None:
    r = await browser.post("/shop/sign-in", data={"phone": customer.phone, "pin": customer.pin})
    assert r.status_code == 403 and 'data-slug="csrf"' in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert (await _sign_in(browser, customer.phone, customer.pin))[0] == 303
    r = await browser.post("/shop/sign-out", data={})
    assert r.status_code == 403  # signed in, still no write without the session's token


async def test_a_form_sent_as_multipart_or_json_is_a_415_page(
    browser: Client, customer: TestCustomer
) -> None:
    """The forms post url-encoded (no enctype): multipart, read by the CSRF check before the
    input guard, was a 500 page; now it is a page saying what to send, and no one signs in."""
    token = _csrf((await browser.get("/shop/sign-in")).text)
    fields = {"_csrf": token, "phone": customer.phone, "pin": customer.pin}
    multipart = {k: (None, v) for k, v in fields.items()}
    for sent in ({"files": multipart}, {"json": fields, "headers": {"X-CSRF-Token": token}}):
        r = await browser.post("/shop/sign-in", **sent)  # type: ignore[arg-type]
        assert r.status_code == 415 and r.headers["content-type"].startswith("text/html"), r.text
        assert 'role="alert"' in r.text and 'href="/shop/"' in r.text  # what happened, a way on
    assert (await browser.get("/shop/orders")).status_code == 303  # still signed out


async def test_pages_for_customers_only_and_an_agent_session_is_none(
    browser: Client, agent: TestAgent
) -> None:
    r = await browser.get("/shop/orders")
    assert r.status_code == 303 and r.headers["location"].startswith("/shop/sign-in?next=")
    form = await browser.get("/console/sign-in")
    signed = await browser.post(
        "/console/sign-in",
        data={"_csrf": _csrf(form.text), "username": agent.username, "password": agent.password},
    )
    assert signed.status_code == 303
    r = await browser.get("/shop/orders")
    assert r.status_code == 303 and "/shop/sign-in" in r.headers["location"]
    assert (await browser.get("/console/")).status_code == 200  # the agent is still signed in


async def test_a_customer_session_opens_no_console_page(
    browser: Client, customer: TestCustomer
) -> None:
    assert (await _sign_in(browser, customer.phone, customer.pin))[0] == 303
    assert (await browser.get("/shop/orders")).status_code == 200
    r = await browser.get("/console/")
    assert r.status_code == 303 and "/console/sign-in" in r.headers["location"]


async def test_bad_links_are_pages_not_json(browser: Client) -> None:
    for path in ("/pay/no-such-token", "/shop/offers/nope", "/shop/?on=31-12-2027"):
        r = await browser.get(path, headers={"Accept-Language": "en"})
        assert r.headers["content-type"].startswith("text/html"), path
        assert r.status_code in (404, 422) and "Find tickets" in r.text, (path, r.text[:300])


async def _booking_form(browser: Client, runtime: Runtime, customer: TestCustomer) -> dict:
    """A signed-in customer's booking form for a fresh offer, as the confirm page sends it."""
    assert (await _sign_in(browser, customer.phone, customer.pin))[0] == 303
    now = runtime.clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s, kind="event", title="Shop seats", venue="Hall", price=Money(50000, "CNY"),
            starts_at=now + timedelta(days=9), capacity=5, now=now,
        )  # fmt: skip
    page = await browser.get(f"/shop/offers/{offer.id}/confirm", params={"qty": 1})
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text)
    assert page.status_code == 200 and key, page.text[:300]
    return {"_csrf": _csrf(page.text), "idempotency_key": key.group(1), "offer_id": offer.id,
            "qty": "1", "method": "e_ticket"}  # fmt: skip


async def test_control_characters_in_the_address_are_a_422_page(
    browser: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    form = await _booking_form(browser, runtime, customer)
    bad = {**form, "method": "courier", "address": "上海市徐汇区\x1b[31m漕溪北路"}
    r = await browser.post("/shop/orders", data=bad, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert 'data-slug="validation-error"' in r.text and "address" in r.text
    ok = {**form, "method": "courier", "address": "上海市徐汇区\r\n漕溪北路 1 号"}
    assert (await browser.post("/shop/orders", data=ok)).status_code == 303


async def test_an_address_past_500_characters_is_a_422_page_not_cut(
    browser: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    form = await _booking_form(browser, runtime, customer)
    bad = {**form, "method": "courier", "address": "上海市徐汇区漕溪北路" * 60}
    r = await browser.post("/shop/orders", data=bad, headers={"Accept-Language": "en"})
    assert r.status_code == 422 and 'data-slug="validation-error"' in r.text, r.text[:300]
    assert "at most 500 characters" in r.text
    r = await browser.get("/shop/orders", headers={"Accept-Language": "en"})
    assert "Shop seats" not in r.text  # no order was placed


async def test_a_422_page_names_the_field_and_why_in_chinese_too(
    browser: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    form = await _booking_form(browser, runtime, customer)
    url = f"/shop/offers/{form['offer_id']}/confirm"
    zh = await browser.get(url, params={"qty": "-1"}, headers={"Accept-Language": "zh-CN"})
    assert zh.status_code == 422 and "表单中有内容不正确" in zh.text
    assert "<strong>数量</strong>：座位数须为 1 到 100" in zh.text, zh.text
    en = await browser.get(url, params={"qty": "-1"}, headers={"Accept-Language": "en"})
    assert "<strong>Seats</strong>: a number of seats from 1 to 100" in en.text


async def test_a_booking_form_sent_again_with_other_choices_offers_a_fresh_form(
    browser: Client, runtime: Runtime, customer: TestCustomer
) -> None:
    form = await _booking_form(browser, runtime, customer)
    first = await browser.post("/shop/orders", data=form)
    assert first.status_code == 303
    for lang, title in (("en", "This booking form was already sent with other choices."),
                        ("zh-CN", "这张预订表单已经按另外的选择提交过了。")):  # fmt: skip
        r = await browser.post(
            "/shop/orders", data={**form, "qty": "2"}, headers={"Accept-Language": lang}
        )
        assert r.status_code == 422 and 'data-slug="idempotency-conflict"' in r.text
        assert f"<h1>{title}</h1>" in r.text, r.text
        fresh = re.search(r'<a class="button" href="([^"]+)">', r.text)
        assert fresh and fresh.group(1).startswith(f"/shop/offers/{form['offer_id']}/confirm?")
    page = await browser.get(fresh.group(1).replace("&amp;", "&"))
    assert page.status_code == 200 and 'name="qty" value="2"' in page.text
    assert f'value="{form["idempotency_key"]}"' not in page.text  # a new key: books anew
