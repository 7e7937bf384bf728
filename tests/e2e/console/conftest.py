"""One live server for the console's browser tests: its own PostgreSQL database (the tests
move the server's clock and set SLA policies, which must not leak into other tests), Redis
for sessions, throttle and channels, localstripe for cards, the loopback partner as the
courier, and the in-process relay and periodic jobs running, as under `make run`.

Playwright's sync API drives one shared Chromium; setup that needs the database runs in a
helper thread with its own event loop (`run_async`), so no loop is shared with Playwright.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

import auth
import commerce
import ticketing
from api.migrate import upgrade
from api.wiring import start_in_process_worker
from core.clock import TravelClock
from core.money import Money
from core.runtime import Runtime
from core.settings import Settings
from fulfillment import PartnerIn, register_partner
from tests.conftest import create_database, drop_database, make_test_settings
from tests.partner_server import PartnerServer
from tests.stripe_fixtures import LocalStripe, free_port

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PASSWORD = "console-test-2026"
VOICE_TOKEN = "console-voice-" + uuid.uuid4().hex  # the voice provider's auth token (signatures)
T = TypeVar("T")


def in_thread(work: Callable[[], T]) -> T:
    """Run `work` in another thread (whatever loop this one is running, pytest-asyncio's)."""
    out: dict[str, Any] = {}

    def main() -> None:
        try:
            out["value"] = work()
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=main)
    thread.start()
    thread.join(60)
    if "error" in out:
        raise out["error"]
    value: T = out["value"]
    return value


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh loop in another thread."""
    return in_thread(lambda: asyncio.run(make()))  # type: ignore[arg-type]


async def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    runtime = Runtime.build(settings)
    try:
        return await work(runtime)
    finally:
        await runtime.close()


@dataclass
class Seeded:
    agent: str
    supervisor: str
    offer_code: str


@dataclass
class Console:
    url: str
    app: Any
    settings: Settings
    seeded: Seeded

    @property
    def clock(self) -> TravelClock:
        clock: TravelClock = self.app.state.runtime.clock
        return clock

    def db(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        return run_async(lambda: with_runtime(self.settings, work))


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
    import uvicorn

    from api.app import create_app

    name, db_url = create_database("hotline_console")
    in_thread(lambda: upgrade(db_url))
    partner = PartnerServer(secret="console-partner-secret").start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_test_settings(
        db_url,
        stripe_api_key="sk_test_hotline",
        stripe_api_base=localstripe.url,
        stripe_webhook_secret=localstripe.webhook_secret,
        stripe_publishable_key="pk_test_hotline",
        stripe_js_url=f"{localstripe.url}/js.stripe.com/v3/",
        public_base_url=url,
        twilio_auth_token=VOICE_TOKEN,
    )
    seeded = run_async(lambda: with_runtime(settings, lambda rt: _seed(rt, partner.url)))
    app = create_app(settings, clock=TravelClock())
    app.on_startup.append(start_in_process_worker)  # the relay feeds the live pages
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=2,  # open SSE streams would hold the shutdown
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the console test server did not start")
    localstripe.register_webhook(f"{url}/v1/webhooks/stripe", hook_id="console")
    try:
        yield Console(url, app, settings, seeded)
    finally:
        from localstripe import webhooks

        webhooks._webhooks.pop("console", None)  # no deliveries to a server going away
        server.should_exit = True
        thread.join(10)
        partner.stop()
        drop_database(name)


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        yield b
        b.close()


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
