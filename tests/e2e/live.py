"""What the browser tests share: one live server in a thread (its own PostgreSQL database, since
the tests move its clock; Redis; localstripe for cards; the loopback partner as the courier; the
in-process relay and jobs, as under `make run`), Debian's Chromium, and running async setup
from Playwright's sync world (a fresh loop in a helper thread)."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, sync_playwright

from api.migrate import upgrade
from api.wiring import start_in_process_worker
from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings
from tests.conftest import create_database, drop_database, make_test_settings
from tests.partner_server import PartnerServer
from tests.stripe_fixtures import LocalStripe, free_port

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")
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
class LiveServer:
    url: str
    app: Any
    settings: Settings
    seeded: Any

    @property
    def clock(self) -> TravelClock:
        clock: TravelClock = self.app.state.runtime.clock
        return clock

    def db(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        return run_async(lambda: with_runtime(self.settings, work))


@contextmanager
def live_server(
    localstripe: LocalStripe,
    name: str,
    seed: Callable[[Runtime, str], Awaitable[Any]],
    **settings_extra: Any,
) -> Iterator[LiveServer]:
    """A server named `name` (its database, partner secret and webhook id), seeded by
    `seed(runtime, courier_url)`, with localstripe's signed webhooks pointed at it."""
    import uvicorn

    from api.app import create_app

    db_name, db_url = create_database(f"hotline_{name}")
    in_thread(lambda: upgrade(db_url))
    partner = PartnerServer(secret=f"{name}-partner-secret").start()
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
        **settings_extra,
    )
    seeded = run_async(lambda: with_runtime(settings, lambda rt: seed(rt, partner.url)))
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
    for _ in range(600):
        if server.started:
            break
        threading.Event().wait(0.05)
    else:
        raise RuntimeError(f"the {name} test server did not start")
    localstripe.register_webhook(f"{url}/v1/webhooks/stripe", hook_id=name)
    try:
        yield LiveServer(url, app, settings, seeded)
    finally:
        from localstripe import webhooks

        webhooks._webhooks.pop(name, None)  # no deliveries to a server going away
        server.should_exit = True
        thread.join(10)
        partner.stop()
        drop_database(db_name)


@contextmanager
def chromium() -> Iterator[Browser]:
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
