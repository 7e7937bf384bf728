"""One live server for the console's browser tests: its own PostgreSQL database (the tests
move the server's clock and set SLA policies, which must not leak into other tests), Redis
for sessions, throttle and channels, localstripe for cards, the loopback partner as the
courier, and the in-process relay and periodic jobs running, as under `make run`.

Playwright's sync API drives one shared Chromium; setup that needs the database runs in a
helper thread with its own event loop (`run_async`), so no loop is shared with Playwright.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

import auth
import commerce
import ticketing
from core.money import Money
from core.runtime import Runtime
from fulfillment import PartnerIn, register_partner
from tests.e2e.live import LiveServer, chromium, live_server
from tests.stripe_fixtures import LocalStripe

SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PASSWORD = "console-test-2026"
VOICE_TOKEN = "console-voice-" + uuid.uuid4().hex  # the voice provider's auth token (signatures)


@dataclass
class Seeded:
    agent: str
    supervisor: str
    offer_code: str


@dataclass
class Console(LiveServer):
    seeded: Seeded


async def _seed(runtime: Runtime, courier_url: str) -> Seeded:
    now = runtime.clock.now()
    suffix = uuid.uuid4().hex[:6]
    async with runtime.sessions() as s, s.begin():
        agent = await auth.create_agent(
            runtime,
            s,
            username=f"agent{suffix}",
            password=PASSWORD,
            display_name="Wang Fang",
            roles=["agent"],
        )
        boss = await auth.create_agent(
            runtime,
            s,
            username=f"boss{suffix}",
            password=PASSWORD,
            display_name="Li Qiang",
            roles=["supervisor"],
        )
        await commerce.create_offer(
            s,
            kind="event",
            title="周杰伦 Jay Chou 2027",
            venue="上海体育场",
            starts_at=now + timedelta(days=40),
            price=Money(68000, "CNY"),
            capacity=50,
            code=f"JC{suffix.upper()}",
            currency="CNY",
            now=now,
        )
        # Open round the clock, so the short SLA below runs whatever the hour of the test.
        await ticketing.upsert_calendar(
            s,
            name="always",
            zone="Asia/Shanghai",
            hours={d: [(0, 24 * 60)] for d in range(7)},
            holidays=[],
            now=now,
        )
        await ticketing.upsert_queue(
            s,
            code="general",
            name="综合 General",
            calendar_name="always",
            categories=list(ticketing.CATEGORIES),
            supervisor_id=boss.id,
            now=now,
        )
        for category in ticketing.CATEGORIES:
            for priority in ticketing.PRIORITIES:
                await ticketing.set_policy(
                    s,
                    category=category,
                    priority=priority,
                    first_response_s=60,
                    next_response_s=120,
                    resolution_s=600,
                    now=now,
                )
        await ticketing.set_agent(s, agent.id, available=True, cap=10, queues=["general"])
        await register_partner(
            s,
            PartnerIn(
                code="ems",
                name="EMS",
                kind="http",
                endpoint_url=courier_url,
                secret="console-partner-secret",
                cost_minor=1500,
            ),
            currency="CNY",
            now=now,
        )
    return Seeded(agent.username, boss.username, f"JC{suffix.upper()}")


@pytest.fixture(scope="package")
def console(localstripe: LocalStripe) -> Iterator[Console]:
    with live_server(localstripe, "console", _seed, twilio_auth_token=VOICE_TOKEN) as live:
        yield Console(live.url, live.app, live.settings, live.seeded)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def new_context(browser: Browser, lang: str = "en") -> BrowserContext:
    return browser.new_context(
        viewport={"width": 1280, "height": 800},
        locale="zh-CN" if lang == "zh" else "en-GB",
        extra_http_headers={"Accept-Language": "zh-CN" if lang == "zh" else "en-GB"},
    )


def sign_in(page: Page, console: Console, username: str, password: str = PASSWORD) -> None:
    page.goto(console.url + "/console/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("nav[aria-label]")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_live(page: Page, selector: str = "#live") -> None:
    """The page's SSE stream is open (htmx:sseOpen marks it), so no event can be missed."""
    page.wait_for_selector(f"{selector}[data-sse=open]", state="attached", timeout=30_000)
