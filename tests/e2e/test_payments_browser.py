"""A real browser (Debian's Chromium, headless) opens a pay link and pays through
localstripe's stand-in Stripe.js until the order is `paid`."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, pay_url, start_payment
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, order_status, place_order
from tests.stripe_fixtures import LiveServer, LocalStripe

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        yield b
        await b.close()


async def _pay_link(runtime: Runtime, server: LiveServer, ls: LocalStripe) -> tuple[Any, str]:
    deps = PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=ls.url),
        public_base_url=server.url,
    )
    order = await place_order(runtime)
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s,
            deps,
            order.id,
            "card",
            principal=AGENT,
            request_key=uuid.uuid4().hex,
            now=runtime.clock.now(),
        )
        url = pay_url(deps, p)
    assert url is not None
    return order, url


async def _fill_card(page: Page, number: str) -> None:
    await page.fill("input[placeholder=number]", number)
    await page.fill("input[placeholder=exp_month]", "12")
    await page.fill("input[placeholder=exp_year]", "34")  # the stand-in prefixes "20"
    await page.fill("input[placeholder=cvc]", "123")
    await page.fill("input[placeholder=postal_code]", "200000")


async def test_browser_pays_a_pay_link(
    browser: Browser, runtime: Runtime, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, url = await _pay_link(runtime, pay_server, localstripe)
    page = await browser.new_page()
    await page.goto(url)
    assert order.number in await page.title()
    await _fill_card(page, "4242424242424242")
    await page.click("#pay")
    await page.wait_for_selector("#result[data-status=succeeded]", timeout=20_000)
    assert await order_status(runtime, order.id) == "paid"
    await page.close()


async def test_browser_pays_with_three_d_secure(
    browser: Browser, runtime: Runtime, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, url = await _pay_link(runtime, pay_server, localstripe)
    page = await browser.new_page()
    await page.goto(url)
    await _fill_card(page, "4000002500003155")
    await page.click("#pay")
    result = page.locator("#result[data-status=succeeded]")
    for _ in range(4):  # one modal for the SetupIntent, one for the PaymentIntent
        button = page.get_by_role("button", name="Complete authentication")
        try:
            await button.wait_for(timeout=5_000)
        except Exception:
            break
        await button.click()
        if await result.count():
            break
    await page.wait_for_selector("#result[data-status=succeeded]", timeout=20_000)
    assert await order_status(runtime, order.id) == "paid"
    await page.close()
