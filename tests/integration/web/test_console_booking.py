"""A phone order through the console's forms, in-process: an expired PIN check, a sold-out
offer and the same form posted twice are pages (or partials) a person can act on; the order
is paid from the phone account; only a supervisor refunds, with a reason."""

from __future__ import annotations

import re
from datetime import timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
import payments
import ticketing
from core.clock import TravelClock
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions

Client = AsyncTestClient[Litestar]
HTMX = {"HX-Request": "true"}


async def _sign_in(c: Client, who: TestAgent) -> dict[str, str]:
    c.cookies.clear()
    form = await c.get("/console/sign-in")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token
    r = await c.post(
        "/console/sign-in",
        data={"_csrf": token.group(1), "username": who.username, "password": who.password},
    )
    assert r.status_code == 303
    desk = await c.get("/console/")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', desk.text)
    assert csrf
    return {**HTMX, "X-CSRF-Token": csrf.group(1)}


def _key(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert found, html[:400]
    return found.group(1)


async def test_a_phone_order_through_the_forms(
    browser: Client,
    agent: TestAgent,
    supervisor: TestAgent,
    customer: TestCustomer,
    runtime: Runtime,
    clock: TravelClock,
) -> None:
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="Console seats",
            venue="Hall",
            price=Money(50000, "CNY"),
            starts_at=clock.now() + timedelta(days=9),
            capacity=1,
            now=clock.now(),
        )
        spare = await commerce.create_offer(
            s,
            kind="event",
            title="Console spare seats",
            venue="Hall",
            price=Money(30000, "CNY"),
            starts_at=clock.now() + timedelta(days=9),
            capacity=5,
            now=clock.now(),
        )
        await payments.top_up(
            s,
            customer.id,
            1_000_000,
            reference=f"web-test:{customer.id}",
            actor="system:test",
            currency="CNY",
            now=clock.now(),
        )
    h = await _sign_in(browser, agent)
    base = f"/console/customers/{customer.id}"
    wrong = await browser.post(f"{base}/verify", data={"pin": "000000"}, headers=h)
    assert wrong.status_code == 422 and "pin-error" in wrong.text
    ok = await browser.post(f"{base}/verify", data={"pin": customer.pin}, headers=h)
    assert ok.status_code == 200 and "verified-badge" in ok.text

    quote = await browser.get(f"{base}/quote?offer={offer.id}&qty=2&method=e_ticket", headers=h)
    assert "¥1,005.00" in quote.text  # 2 x 500.00 + booking fee 5.00, e-ticket free
    form = {
        "offer_id": offer.id,
        "qty": "2",
        "method": "e_ticket",
        "idempotency_key": _key(quote.text),
    }
    sold_out = await browser.post(f"{base}/orders", data=form, headers=h)
    assert sold_out.status_code == 409 and 'data-problem="sold-out"' in sold_out.text

    clock.advance(timedelta(minutes=16))  # the PIN check has lapsed
    form = {**form, "qty": "1", "idempotency_key": "first-form-key-1"}
    lapsed = await browser.post(f"{base}/orders", data=form, headers=h)
    assert lapsed.status_code == 403 and 'data-problem="verification-required"' in lapsed.text
    await browser.post(f"{base}/verify", data={"pin": customer.pin}, headers=h)
    placed = await browser.post(f"{base}/orders", data=form, headers=h)
    assert placed.status_code == 200, placed.text[:300]
    order_id = re.search(r'data-order="([^"]+)"', placed.text)
    assert order_id
    again = await browser.post(f"{base}/orders", data=form, headers=h)  # a double click
    assert f'data-order="{order_id.group(1)}"' in again.text
    oid = order_id.group(1)

    # a second order, cancelled on the call: its seat goes back
    other = await browser.post(
        f"{base}/orders", data={**form, "offer_id": spare.id, "idempotency_key": "k2"}, headers=h
    )
    other_id = re.search(r'data-order="([^"]+)"', other.text)
    assert other_id
    too_long = await browser.post(  # was cut to 500 characters and cancelled
        f"/console/orders/{other_id.group(1)}/cancel",
        data={"reason": "x" * 100_000, "idempotency_key": "c0"},
        headers=h,
    )
    assert too_long.status_code == 422 and "<strong>原因</strong>：最多 500 个字符" in too_long.text
    cancelled = await browser.post(
        f"/console/orders/{other_id.group(1)}/cancel",
        data={"reason": "caller changed their mind", "idempotency_key": "c1"},
        headers=h,
    )
    assert cancelled.status_code == 200 and 'data-status="cancelled"' in cancelled.text

    paid = await browser.post(
        f"/console/orders/{oid}/pay",
        data={"method": "carrier_billing", "idempotency_key": "pay-key-1"},
        headers=h,
    )
    assert paid.status_code == 200 and paid.headers["HX-Trigger"] == "order-changed"
    # The charge ran in the request and succeeded: the answer says nothing is still running.
    assert 'id="charging"' not in paid.text and 'id="pay-account"' not in paid.text
    panel = await browser.get(f"/console/orders/{oid}", headers=h)
    assert 'data-status="paid"' in panel.text or 'data-status="fulfilling"' in panel.text

    refused = await browser.post(
        f"/console/orders/{oid}/refund", data={"reason": "x", "idempotency_key": "r1"}, headers=h
    )
    assert refused.status_code == 403 and 'data-problem="forbidden"' in refused.text
    h = await _sign_in(browser, supervisor)
    no_reason = await browser.post(
        f"/console/orders/{oid}/refund", data={"reason": " ", "idempotency_key": "r2"}, headers=h
    )
    assert no_reason.status_code == 422
    too_long = await browser.post(  # was refunded, its reason cut to 300 characters
        f"/console/orders/{oid}/refund",
        data={"reason": "x" * 100_000, "idempotency_key": "r2b"},
        headers=h,
    )
    assert too_long.status_code == 422 and "<strong>原因</strong>：最多 300 个字符" in too_long.text
    refund = await browser.post(
        f"/console/orders/{oid}/refund",
        data={"reason": "seats moved by the venue", "idempotency_key": "r3"},
        headers=h,
    )
    assert refund.status_code == 200, refund.text[:300]
    detail = await browser.get(f"/v1/orders/{oid}", headers=supervisor.headers)
    assert detail.json()["payments"][0]["refunded"]["amount"] == 50500


async def test_a_far_off_search_date_is_a_message_not_a_500(
    browser: Client, agent: TestAgent, customer: TestCustomer
) -> None:
    h = await _sign_in(browser, agent)
    for day in ("0001-01-01", "9999-12-31"):
        r = await browser.get(f"/console/customers/{customer.id}/offers?on={day}", headers=h)
        assert r.status_code == 422 and 'data-problem="validation-error"' in r.text, r.text


async def test_the_wrap_up_note_stays_on_the_callers_record(
    browser: Client, agent: TestAgent, customer: TestCustomer
) -> None:
    h = await _sign_in(browser, agent)
    base = f"/console/customers/{customer.id}"
    empty = await browser.post(f"{base}/wrap-up", data={"note": "  "}, headers=h)
    assert empty.status_code == 422 and 'data-problem="validation-error"' in empty.text
    saved = await browser.post(
        f"{base}/wrap-up", data={"note": "Booked 2 seats; pay link sent."}, headers=h
    )
    assert saved.status_code == 200 and "wrap-up-saved" in saved.text
    record = await browser.get(base)
    assert "Booked 2 seats; pay link sent." in record.text


async def test_a_ticket_worked_from_its_page(
    browser: Client, agent: TestAgent, customer: TestCustomer, runtime: Runtime, clock: TravelClock
) -> None:
    async with fixture_sessions(runtime)() as s, s.begin():
        ticket = await ticketing.open_ticket(
            s,
            Principal("agent", agent.id, frozenset({"agent"})),
            now=clock.now(),
            category="service",
            subject="Rude hold music",
            description="Twenty minutes of it.",
            priority="high",
            channel="phone",
            customer_id=customer.id,
        )
        await ticketing.set_agent(s, agent.id, available=True, cap=5)
    h = await _sign_in(browser, agent)
    url = f"/console/tickets/{ticket.id}"
    page = await browser.get(url)
    assert page.status_code == 200 and "Rude hold music" in page.text
    assert 'value="pending_customer"' in page.text or 'value="open"' in page.text
    taken = await browser.post(f"{url}/assign", data={"who": "me"}, headers=h)
    assert taken.status_code == 200, re.findall(r"muted\">([^<]*)", taken.text)
    assert taken.headers["HX-Redirect"] == url
    await browser.post(
        f"{url}/comments", data={"body": "Sorry about that.", "public": "1"}, headers=h
    )
    await browser.post(f"{url}/comments", data={"body": "Check the IVR.", "public": "0"}, headers=h)
    if ticket.status == "new":
        await browser.post(f"{url}/transition", data={"to": "open"}, headers=h)
    moved = await browser.post(
        f"{url}/transition",
        data={"to": "pending_customer", "reason": "asked for a time"},
        headers=h,
    )
    assert moved.status_code == 200, moved.text[-600:]
    page = await browser.get(url)
    assert "Sorry about that." in page.text and "Check the IVR." in page.text
    assert 'data-status="pending_customer"' in page.text
    bad = await browser.post(f"{url}/transition", data={"to": "closed"}, headers=h)
    assert bad.status_code == 409 and 'data-problem="invalid-transition"' in bad.text
    mine = await browser.get("/console/tickets?view=all&status=pending_customer")
    assert ticket.number in mine.text


async def test_charging_a_phone_account_needs_that_callers_pin_check(
    browser: Client,
    agent: TestAgent,
    customer: TestCustomer,
    other_customer: TestCustomer,
    runtime: Runtime,
    clock: TravelClock,
) -> None:
    now = clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s, kind="event", title="Pay check seats", venue="Hall", price=Money(10000, "CNY"),
            starts_at=now + timedelta(days=9), capacity=5, now=now,
        )  # fmt: skip
        orders = {}
        for who in (customer, other_customer):
            await payments.top_up(
                s, who.id, 100_000, reference=f"web-pin:{who.id}", actor="system:test",
                currency="CNY", now=now,
            )  # fmt: skip
            orders[who.id] = await commerce.place_order(
                s, customer_id=who.id, lines=[commerce.LineRequest(offer.id, 1)],
                delivery_method="e_ticket", delivery_address=None,
                actor=Principal("customer", who.id).actor, channel="web",
                settings=runtime.settings, now=now,
            )  # fmt: skip
    h = await _sign_in(browser, agent)
    ok = await browser.post(
        f"/console/customers/{customer.id}/verify", data={"pin": customer.pin}, headers=h
    )
    assert ok.status_code == 200 and "verified-badge" in ok.text
    # only the first caller is verified: the other customer's phone account is not charged
    other = orders[other_customer.id].id
    charge = {"method": "carrier_billing", "idempotency_key": "pin-pay-1"}
    refused = await browser.post(f"/console/orders/{other}/pay", data=charge, headers=h)
    assert refused.status_code == 403, refused.text[:300]
    assert 'data-problem="verification-required"' in refused.text
    async with fixture_sessions(runtime)() as s:
        assert await payments.payments_for_order(s, other) == []
    link = {"method": "card", "idempotency_key": "pin-pay-2"}  # a pay link goes to the owner
    sent = await browser.post(f"/console/orders/{other}/pay", data=link, headers=h)
    assert sent.status_code != 403, sent.text  # (no card gateway in these tests: 422)
    assert "<strong>支付</strong>：这里未开通银行卡支付" in sent.text, sent.text  # not "配送"
    mine = orders[customer.id].id
    paid = await browser.post(f"/console/orders/{mine}/pay", data=charge, headers=h)
    assert paid.status_code == 200, paid.text[:300]
    clock.advance(timedelta(minutes=16))  # the check lapses: no more charges on it
    async with fixture_sessions(runtime)() as s, s.begin():
        again = await commerce.place_order(
            s, customer_id=customer.id, lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket", delivery_address=None,
            actor=Principal("customer", customer.id).actor, channel="web",
            settings=runtime.settings, now=clock.now(),
        )  # fmt: skip
    late = {**charge, "idempotency_key": "pin-pay-3"}
    lapsed = await browser.post(f"/console/orders/{again.id}/pay", data=late, headers=h)
    assert lapsed.status_code == 403 and 'data-problem="verification-required"' in lapsed.text
