"""The console in a real browser (Debian's Chromium): a phone order from ring to `paid`,
a pay link paid in a second browser, a complaint, and an escalation reaching the agent's
inbox and the supervisor's wallboard live. Screenshots of each main page land in
tests/e2e/screenshots/ (gitignored) for review."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

import auth
import payments
from commerce.models import Order, OrderItem
from core.runtime import Runtime
from core.sms import SmsMessage
from tests.e2e.console.conftest import Console, new_context, shot, sign_in, wait_live

pytestmark = pytest.mark.slow
PAID = "#order-state[data-status=paid], #order-state[data-status=fulfilling]"


def _new_number() -> str:
    return f"+86139{random.randint(0, 99_999_999):08d}"


def _enrol(page: Page, console: Console, phone: str, pin: str) -> None:
    """The agent texts a set-up code; the caller sets a PIN with it on their own phone (the
    JSON API's enrolment) and has money on the phone account."""
    page.click("#verify button[hx-post$=pin-code]")
    expect(page.locator("#code-sent")).to_be_visible()

    async def read_code(rt: Runtime) -> str:
        async with rt.sessions() as s:
            body = await s.scalar(
                select(SmsMessage.body).where(SmsMessage.to == phone, SmsMessage.purpose == "otp")
            )
        found = re.search(r"\b(\d{6})\b", body or "")
        assert found, body
        return found.group(1)

    code = console.db(read_code)
    r = httpx.post(
        f"{console.url}/v1/auth/enrollment/confirm", json={"phone": phone, "code": code, "pin": pin}
    )
    assert r.status_code == 200, r.text

    async def top_up(rt: Runtime) -> None:
        async with rt.sessions() as s, s.begin():
            customer = await auth.find_customer_by_phone(s, phone)
            assert customer is not None
            await payments.top_up(
                s,
                customer.id,
                500_000,
                reference=f"console-test:{phone}",
                actor="system:test",
                currency="CNY",
                now=rt.clock.now(),
                credit_limit=100_000,
            )

    console.db(top_up)


def _failed_checks(console: Console, phone: str) -> int:
    async def count(rt: Runtime) -> int:
        async with rt.sessions() as s:
            return int(
                await s.scalar(
                    select(func.count())
                    .select_from(auth.AuditEvent)
                    .where(
                        auth.AuditEvent.event == "verification",
                        auth.AuditEvent.subject == phone,
                        auth.AuditEvent.outcome == "failure",
                    )
                )
                or 0
            )

    return console.db(count)


def _new_verified_caller(page: Page, console: Console, *, screens: str = "") -> str:
    """Screen pop of an unknown number -> create the customer -> the caller enrols a PIN ->
    a wrong PIN (counted by the throttle) -> the right one: verified."""
    phone = _new_number()
    page.goto(f"{console.url}/console/calls/new?from={phone.replace('+', '%2B')}")
    expect(page.locator("#new-customer")).to_be_visible()
    expect(page.locator("#phone")).to_have_value(phone)
    if screens:
        shot(page, f"{screens}-screen-pop-unknown")
    page.fill("#name", "陈静 Chen Jing")
    page.click("#new-customer button[type=submit]")
    expect(page.locator("#caller-phone")).to_have_text(phone)
    expect(page.locator("#no-pin")).to_be_visible()
    _enrol(page, console, phone, "582946")
    page.reload()
    wait_live(page)
    expect(page.locator("#pin")).to_be_focused()  # the screen pop puts focus on the PIN
    page.fill("#pin", "111111")
    page.press("#pin", "Enter")
    expect(page.locator("#pin-error")).to_be_visible()
    assert _failed_checks(console, phone) == 1
    page.fill("#pin", "582946")
    page.press("#pin", "Enter")
    expect(page.locator("#verified-badge")).to_be_visible()
    expect(page.locator("#offer-q")).to_be_focused()  # the next keystroke: the offer search
    return phone


def _settled(page: Page) -> None:
    """No htmx request in flight (a re-quote replaces the form being filled)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def _book(page: Page, console: Console, *, qty: int, method: str, screens: str = "") -> None:
    page.fill("#offer-q", console.seeded.offer_code)
    page.click(f"#offer-list button[data-offer={console.seeded.offer_code}]")
    expect(page.locator("#book-form")).to_be_visible()
    page.fill("#qty", str(qty))
    page.locator("#qty").dispatch_event("change")
    _settled(page)
    expect(page.locator(".breakdown")).to_contain_text(f"{qty} ×")  # re-quoted
    page.focus("#method")
    page.select_option("#method", method)
    _settled(page)
    expect(page.locator("#method")).to_be_focused()  # the re-quote kept the agent's place
    expect(page.locator("#address")).to_have_count(1 if method == "courier" else 0)
    expect(page.locator("#quote-total")).to_contain_text(
        "1,380.00" if (qty, method) == (2, "courier") else ""
    )
    if method == "courier":
        page.fill("#address", "上海市黄浦区南京东路1号")
    if screens:
        shot(page, f"{screens}-booking-quote")
    page.click("#place-order")
    expect(page.locator("#order-panel")).to_be_visible()
    wait_live(page, "[data-order-live]")


def test_phone_order_paid_from_the_phone_account_shows_paid_live(
    browser: Browser, console: Console
) -> None:
    ctx = new_context(browser, "en")
    page = ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    shot(page, "en-desk")
    page.keyboard.press("?")  # the cheat sheet
    expect(page.locator("#keys")).to_be_visible()
    shot(page, "en-shortcuts")
    page.keyboard.press("Escape")
    expect(page.locator("#keys")).to_be_hidden()
    _new_verified_caller(page, console, screens="en")
    shot(page, "en-customer-360-verified")
    _book(page, console, qty=2, method="courier", screens="en")
    expect(page.locator("#order-state")).to_have_attribute("data-status", "awaiting_payment")
    page.click("#pay-account")
    expect(page.locator(PAID)).to_be_visible(timeout=30_000)  # pushed over SSE, no reload
    expect(page.locator("#order-status")).to_contain_text("Phone account")
    expect(page.locator("#balance")).to_contain_text("3,620.00")  # 5,000 - 1,380, refreshed
    shot(page, "en-order-paid-live")
    page.fill("#wrap-up-note", "Booked 2 seats by courier, paid from the phone account.")
    page.click("#wrap-up button[type=submit]")
    expect(page.locator("#wrap-up-saved")).to_be_visible()
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet
    page.reload()
    expect(page.locator("#call-notes")).to_contain_text("Booked 2 seats")
    shot(page, "en-customer-360-tablet")
    ctx.close()


def test_pay_link_paid_in_a_second_browser_shows_paid_live_in_chinese(
    browser: Browser, console: Console
) -> None:
    agent_ctx = new_context(browser, "zh")
    page = agent_ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    expect(page.locator("h1")).to_have_text("工作台")
    phone = _new_verified_caller(page, console, screens="zh")
    expect(page.locator("#verified-badge")).to_contain_text("已核验")
    _book(page, console, qty=1, method="e_ticket")
    expect(page.locator("#order-status")).to_contain_text("¥685.00")
    wait_live(page, "[data-order-live]")  # the order's stream is open before anyone pays
    page.click("#pay-link")
    expect(page.locator("#link-sent")).to_be_visible()

    async def pay_link(rt: Runtime) -> str:
        async with rt.sessions() as s:
            body = await s.scalar(
                select(SmsMessage.body).where(
                    SmsMessage.to == phone, SmsMessage.purpose == "pay_link"
                )
            )
        found = re.search(r"https?://\S+/pay/\S+", body or "")
        assert found, body
        return found.group(0)

    link = console.db(pay_link)
    customer = new_context(browser, "zh").new_page()
    customer.goto(link)
    customer.fill("input[placeholder=number]", "4242424242424242")
    customer.fill("input[placeholder=exp_month]", "12")
    customer.fill("input[placeholder=exp_year]", "34")
    customer.fill("input[placeholder=cvc]", "123")
    customer.fill("input[placeholder=postal_code]", "200000")
    customer.click("#pay")
    customer.wait_for_selector("#result[data-status=succeeded]", timeout=40_000)
    expect(page.locator(PAID)).to_be_visible(timeout=30_000)  # bounds a failure on a busy box
    expect(page.locator("#pay-link")).to_have_count(0)  # nothing left to pay
    expect(page.locator("#context")).not_to_contain_text("待支付")  # the history followed
    shot(page, "zh-order-paid-by-link-live")
    customer.context.close()
    agent_ctx.close()


def test_complaint_from_the_call_escalates_live_to_inbox_and_wallboard(
    browser: Browser, console: Console
) -> None:
    agent_ctx = new_context(browser, "en")
    page = agent_ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    _new_verified_caller(page, console)
    _book(page, console, qty=1, method="e_ticket")
    page.reload()
    page.select_option("#complaint-category", "service")
    page.select_option("#complaint-priority", "urgent")
    page.fill("#complaint-subject", "Seats not together")
    page.fill("#complaint-description", "Caller booked two seats and wants them side by side.")
    page.click("#complaint button[type=submit]")
    expect(page.locator("#complaint-opened")).to_be_visible()
    expect(page.locator("#toasts .toast")).to_have_count(0)
    page.click("#complaint-opened a")
    expect(page.locator("h1")).to_contain_text("Seats not together")
    expect(page.locator("h1 + p .sla.badge.ok")).to_contain_text("On time")
    shot(page, "en-ticket")

    boss_ctx = new_context(browser, "en")
    board = boss_ctx.new_page()
    sign_in(board, console, console.seeded.supervisor)
    board.goto(console.url + "/console/wallboard")
    wait_live(board)
    breached = board.locator("[data-queue=general] [data-stat=breached]")
    expect(breached).to_have_text("0")
    shot(board, "en-wallboard")

    page.goto(console.url + "/console/")
    wait_live(page)
    expect(page.locator("#inbox")).to_contain_text("Nothing waiting")
    console.clock.advance(timedelta(seconds=61))  # past the 60 s first-response target
    expect(page.locator("#toasts .toast").first).to_be_visible(timeout=15_000)
    expect(page.locator("#inbox-list")).to_be_visible(timeout=20_000)
    expect(breached).to_have_text("1", timeout=15_000)
    shot(page, "en-desk-escalated")
    shot(board, "en-wallboard-escalated")
    board.goto(console.url + "/console/tickets?view=all")
    shot(board, "en-tickets")
    boss_ctx.close()
    agent_ctx.close()


def test_typing_a_quantity_and_placing_the_order_at_once_places_what_was_typed(
    browser: Browser, console: Console
) -> None:
    """The quantity's change (on blur) starts a re-quote just before the click submits: the
    submit must replace that re-quote, not be dropped behind it."""
    ctx = new_context(browser, "en")
    page = ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    _new_verified_caller(page, console)
    page.fill("#offer-q", console.seeded.offer_code)
    page.click(f"#offer-list button[data-offer={console.seeded.offer_code}]")
    expect(page.locator("#book-form")).to_be_visible()
    page.fill("#address", "上海市黄浦区南京东路1号")
    page.fill("#qty", "3")
    page.click("#place-order")  # no pause for the re-quote
    expect(page.locator("#order-panel")).to_be_visible()
    number = page.locator("#order-number").inner_text()

    async def seats(rt: Runtime) -> int:
        async with rt.sessions() as s:
            total = await s.scalar(
                select(func.sum(OrderItem.quantity))
                .join(Order, Order.id == OrderItem.order_id)
                .where(Order.number == number)
            )
        return int(total or 0)

    assert console.db(seats) == 3
    ctx.close()


def test_a_field_changed_as_the_form_lands_is_heard(browser: Browser, console: Console) -> None:
    """An agent typing ahead changes the delivery a few ms after the booking form is swapped in:
    the form must already be wired (htmx wires new content when it settles, 20 ms later by
    default), or the change re-quotes nothing and the address field stays required."""
    ctx = new_context(browser, "en")
    page = ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    _new_verified_caller(page, console)
    page.evaluate(
        """() => document.body.addEventListener('htmx:afterSwap', () => {
          const method = document.querySelector('#book-form #method');
          if (!method || window.typedAhead) return;
          window.typedAhead = true;
          setTimeout(() => {
            method.value = 'e_ticket';
            method.dispatchEvent(new Event('change', {bubbles: true}));
          }, 5);
        })"""
    )
    page.fill("#offer-q", console.seeded.offer_code)
    page.click(f"#offer-list button[data-offer={console.seeded.offer_code}]")
    expect(page.locator("#book-form")).to_be_visible()
    expect(page.locator("#address")).to_have_count(0)  # the e-ticket re-quote landed
    ctx.close()
