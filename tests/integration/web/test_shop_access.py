"""Who may open the shop and how, in-process against PostgreSQL and Redis (no browser): the
API's sign-in rules (one answer for an unknown number and a wrong PIN, the lock), CSRF on
every form, sessions kept apart from the console's, and errors as pages, never JSON."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from core.settings import Settings
from tests.auth_fixtures import TestAgent, TestCustomer

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def browser(client: Client) -> AsyncIterator[Client]:
    client.cookies.clear()
    follows, client.follow_redirects = client.follow_redirects, False
    yield client
    client.follow_redirects = follows
    client.cookies.clear()


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
