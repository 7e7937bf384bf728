"""The IVR's hand-off in a real browser: a call walks the voice menu through signed webhooks
(twilio's RequestValidator, as a provider signs them), types the PIN on the keypad and
presses 0; the agent's screen pop for that number shows "verified by keypad", the agent
answers from the console and books for the caller with no PIN asked; the supervisor's
wallboard shows the call waiting and, live, answered. Screenshots in tests/e2e/screenshots/."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, expect

import payments
from api.voice_demo import Caller
from core.runtime import Runtime
from tests.auth_fixtures import TestCustomer, make_customer
from tests.e2e.console.conftest import (
    VOICE_TOKEN,
    Console,
    new_context,
    shot,
    sign_in,
    wait_live,
)
from tests.e2e.live import run_async

pytestmark = pytest.mark.slow
GENERAL = "[data-call-queue=general] "


def _caller_with_credit(console: Console) -> TestCustomer:
    async def make(rt: Runtime) -> TestCustomer:
        who = await make_customer(rt, pin="582946", locale="en", name="Zhou Min")
        async with rt.sessions() as s, s.begin():
            await payments.top_up(
                s,
                who.id,
                300_000,
                reference=f"ivr-test:{who.phone}",
                actor="system:test",
                currency="CNY",
                now=rt.clock.now(),
            )
        return who

    return console.db(make)


def _call_and_ask_for_an_agent(console: Console, who: TestCustomer) -> str:
    """Dial, hear the complaints after the PIN typed on the keypad, press 0: the call waits."""

    async def walk() -> str:
        async with httpx.AsyncClient(base_url=console.url) as http:
            call = Caller(http, public_base=console.url, auth_token=VOICE_TOKEN, phone=who.phone)
            said = await call.walk(["4", who.pin + "#", "0"])
        assert said[-1].enqueued == "general", [h.text for h in said]
        assert "PIN" in said[1].text  # the PIN was asked by the IVR, not by the agent
        return call.call_sid

    return run_async(walk)


def test_ivr_hand_off_pops_verified_by_keypad_and_the_wallboard_follows_live(
    browser: Browser, console: Console
) -> None:
    who = _caller_with_credit(console)
    boss_ctx, ctx = new_context(browser, "en"), new_context(browser, "en")
    board, page = boss_ctx.new_page(), ctx.new_page()
    sign_in(board, console, console.seeded.supervisor)
    board.goto(console.url + "/console/wallboard")
    wait_live(board)  # the wallboard hears every notice from here on
    expect(board.locator(GENERAL + "[data-stat=calls_waiting]")).to_have_text("0")

    sid = _call_and_ask_for_an_agent(console, who)
    expect(board.locator(GENERAL + "[data-stat=calls_waiting]")).to_have_text("1")  # live
    expect(board.locator(GENERAL + "[data-stat=longest_wait]")).to_contain_text(":")
    shot(board, "en-wallboard-call-waiting")

    sign_in(page, console, console.seeded.agent)
    page.goto(f"{console.url}/console/calls/new?from={who.phone.replace('+', '%2B')}")
    expect(page.locator("#caller-phone")).to_have_text(who.phone)
    expect(page.locator("#ivr-call")).to_have_attribute("data-call-sid", sid)
    expect(page.locator("#keypad-badge")).to_contain_text("Verified by keypad")
    expect(page.locator("#keypad-badge")).to_contain_text("min left")
    expect(page.locator("#ivr-queue")).to_have_text("General queue")
    expect(page.locator("#ivr-path")).to_contain_text("open complaints")
    expect(page.locator("#ivr-path")).to_contain_text("PIN right")
    expect(page.locator("#ivr-path")).to_contain_text("asked for an agent")
    assert not any(ch.isdigit() for ch in page.locator("#ivr-path").inner_text())
    expect(page.locator("#answer-call")).to_be_focused()  # the first keystroke answers
    wait_live(page)
    shot(page, "en-ivr-screen-pop")

    page.keyboard.press("Enter")
    expect(page.locator("#ivr-status")).to_contain_text("Answered by you")
    expect(page.locator("#verified-badge")).to_contain_text("Verified by keypad")
    expect(page.locator("#pin")).to_have_count(0)  # no PIN asked, none to type
    expect(board.locator(GENERAL + "[data-stat=calls_waiting]")).to_have_text("0")  # live
    expect(board.locator(GENERAL + "[data-stat=service_level]")).to_have_text("100%")
    shot(board, "en-wallboard-call-answered")

    page.fill("#offer-q", console.seeded.offer_code)
    page.click(f"#offer-list button[data-offer={console.seeded.offer_code}]")
    expect(page.locator("#book-form")).to_be_visible()
    page.select_option("#method", "e_ticket")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    expect(page.locator("#address")).to_have_count(0)  # the e-ticket re-quote has landed
    expect(page.locator("#book-form [role=alert]")).to_have_count(0)  # no "verify the PIN"
    page.click("#place-order")
    expect(page.locator("#order-panel")).to_be_visible()
    expect(page.locator("#order-state")).to_have_attribute("data-status", "awaiting_payment")
    expect(page.locator("#pin")).to_have_count(0)
    shot(page, "en-ivr-answered-booked")
    page.select_option("#lang-pick", "zh")  # the same record in Chinese
    expect(page.locator("#verified-badge")).to_contain_text("已按键核验")
    page.goto(f"{console.url}/console/calls/new?call_sid={sid}")  # the softphone's pop
    expect(page.locator("#ivr-status")).to_contain_text("已由您接听")
    expect(page.locator("#ivr-path")).to_contain_text("要求人工服务")
    shot(page, "zh-ivr-answered")
    ctx.close()
    boss_ctx.close()
