"""localstripe on loopback for the payments tests (a pytest plugin listed in conftest).

localstripe runs in its own thread with its own event loop; its pickle-to-disk is switched
off (it would rewrite a shared /tmp file after every write).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalStripe:
    url: str
    port: int
    webhook_secret: str

    def register_webhook(self, url: str, hook_id: str = "hotline") -> None:
        r = httpx.post(
            f"{self.url}/_config/webhooks/{hook_id}",
            data={"url": url, "secret": self.webhook_secret},
        )
        r.raise_for_status()

    def create_card_method(self, number: str) -> str:
        """A PaymentMethod made server-side (localstripe allows raw numbers; Stripe does not)."""
        r = httpx.post(
            f"{self.url}/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
            auth=("sk_test_hotline", ""),
        )
        r.raise_for_status()
        return str(r.json()["id"])

    def authenticate_3ds(self, intent_id: str, client_secret: str, succeed: bool = True) -> None:
        """What the stand-in Stripe.js does when the customer completes 3-D Secure."""
        r = httpx.post(
            f"{self.url}/v1/payment_intents/{intent_id}/_authenticate",
            params={"success": "true" if succeed else "false"},
            json={"key": "pk_test_hotline", "client_secret": client_secret},
        )
        r.raise_for_status()


def _serve(port: int, ready: threading.Event) -> None:
    import logging

    from aiohttp import web
    from localstripe import resources, server

    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    resources.store.dump_to_disk = lambda: None  # type: ignore[method-assign]
    resources.store.clear()

    async def main() -> None:
        runner = web.AppRunner(server.app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def run_localstripe(*, own_process: bool = False) -> Iterator[LocalStripe]:
    """localstripe on a free loopback port, in a daemon thread (also used by bench/).

    `own_process`: in a child process instead, as a real gateway is another machine. A
    benchmark needs this: in a thread, localstripe shares the load generator's GIL, so every
    gateway answer slowed the client that measures the rate (and the other way round)."""
    port = free_port()
    if own_process:
        with _localstripe_process(port):
            yield LocalStripe(
                url=f"http://127.0.0.1:{port}", port=port,
                webhook_secret=f"whsec_{uuid.uuid4().hex}",
            )  # fmt: skip
        return
    ready = threading.Event()
    thread = threading.Thread(target=_serve, args=(port, ready), daemon=True)
    thread.start()
    if not ready.wait(15):
        raise RuntimeError("localstripe did not start")
    yield LocalStripe(
        url=f"http://127.0.0.1:{port}", port=port, webhook_secret=f"whsec_{uuid.uuid4().hex}"
    )


@contextmanager
def _localstripe_process(port: int) -> Iterator[None]:
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-m", "tests.stripe_fixtures", str(port)], cwd=root)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/balance", auth=("sk_test_x", ""))
                break
            except httpx.TransportError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("localstripe did not start") from None
                time.sleep(0.1)
        yield
    finally:
        child.terminate()
        child.wait(10)


@dataclass
class LiveServer:
    """The Hotline app on a real loopback port (the browser and localstripe's webhooks reach it)."""

    url: str
    app: Any

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime


@pytest.fixture(scope="session")
def localstripe() -> Iterator[LocalStripe]:
    with run_localstripe() as ls:
        yield ls


@pytest.fixture(scope="session")
def pay_server(pg_url: str, localstripe: LocalStripe, settings: Any) -> Iterator[LiveServer]:
    # same secret as the shared settings, so tokens issued by tests are valid on this server
    with run_pay_server(pg_url, localstripe, secret_key=settings.secret_key) as server:
        yield server


@contextmanager
def run_pay_server(
    pg_url: str, localstripe: LocalStripe, *, secret_key: str | None = None
) -> Iterator[LiveServer]:
    """The app under uvicorn on loopback, wired to localstripe, its webhook registered."""
    import uvicorn

    from api.app import create_app
    from core.clock import TravelClock
    from tests.conftest import make_test_settings

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    extra: dict[str, Any] = {"secret_key": secret_key} if secret_key else {}
    settings = make_test_settings(
        pg_url,
        **extra,
        stripe_api_key="sk_test_hotline",
        stripe_api_base=localstripe.url,
        stripe_webhook_secret=localstripe.webhook_secret,
        stripe_publishable_key="pk_test_hotline",
        stripe_js_url=f"{localstripe.url}/js.stripe.com/v3/",
        public_base_url=url,
    )
    app = create_app(settings, clock=TravelClock())
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(300):
        if server.started:
            break
        threading.Event().wait(0.05)
    else:
        raise RuntimeError("the test server did not start")
    localstripe.register_webhook(f"{url}/v1/webhooks/stripe")
    try:
        yield LiveServer(url=url, app=app)
    finally:
        from localstripe import webhooks

        webhooks._webhooks.clear()  # no deliveries to a server that is going away
        server.should_exit = True
        thread.join(10)


if __name__ == "__main__":  # run_localstripe(own_process=True)
    _serve(int(sys.argv[1]), threading.Event())
