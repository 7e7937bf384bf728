"""What `make run` gives a newcomer: `hotline run` on embedded defaults (SQLite file, in-process
worker, SMS sink, built-in carrier billing) migrates, seeds the demo, serves, and a demo caller
can log in, book, pay on the phone account and receive the e-ticket by SMS; pay by card through
the demo gateway; have a courier order answered by the demo courier; open a ticket that an
agent gets automatically; afford the dearest offer. Start-up says what is on and off, and pay
links follow HOTLINE_PORT.

Run as a real process (as the README's command runs it), so a seed or start-up failure that
only the embedded defaults hit fails here rather than in front of a newcomer.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.seeds.auth import CUSTOMERS, DEMO_PASSWORD

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    base: str
    log: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")
    }  # embedded defaults only, as on a fresh clone
    env.update(
        HOTLINE_PORT=str(port),
        HOTLINE_DATABASE_URL=f"sqlite+aiosqlite:///{folder / 'hotline.db'}",
    )
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "run"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    "hotline run exited:\n" + (folder / "server.log").read_text()[-4000:]
                )
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("hotline run did not start in 90 s")
            time.sleep(0.3)
        yield Demo(base, folder / "server.log")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture(scope="module")
def demo_server(demo: Demo) -> str:
    return demo.base


def test_demo_caller_books_pays_by_phone_account_and_gets_the_eticket(demo_server: str) -> None:
    phone, _name, _locale, pin = CUSTOMERS[0]
    with httpx.Client(base_url=demo_server, timeout=30) as http:
        assert http.get("/ready").status_code == 200
        r = http.post("/v1/auth/token", json={"phone": phone, "pin": pin})
        assert r.status_code == 200, r.text
        me = {"Authorization": f"Bearer {r.json()['access_token']}"}

        offers = http.get("/v1/offers", params={"kind": "event"}).json()["items"]
        assert offers, "the demo catalog has events"
        offer = next(o for o in offers if o["available"] > 0)
        order_body = {
            "items": [{"offer_id": offer["id"], "quantity": 1}],
            "delivery": {"method": "e_ticket"},
        }
        r = http.post("/v1/orders", json=order_body, headers={**me, **_key()})
        assert r.status_code == 201, r.text
        order = r.json()
        r = http.post(
            f"/v1/orders/{order['id']}/payments",
            json={"method": "carrier_billing"},
            headers={**me, **_key()},
        )
        assert r.status_code in (200, 201), r.text

        # The in-process worker relays order.paid, the built-in e-ticket partner sends the SMS.
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline:
            status = http.get(f"/v1/orders/{order['id']}", headers=me).json()["status"]
            if status == "fulfilled":
                break
            time.sleep(0.3)
        assert status == "fulfilled"

        r = http.post("/v1/auth/agent-token", json={"username": "admin", "password": DEMO_PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        sms = http.get("/v1/admin/sms-outbox", params={"to": phone}, headers=admin).json()
        bodies = [m["body"] for m in (sms["items"] if isinstance(sms, dict) else sms)]
        assert any(order["number"] in b for b in bodies), bodies


def _login(http: httpx.Client, which: int = 1) -> dict[str, str]:
    phone, _name, _locale, pin = CUSTOMERS[which]
    r = http.post("/v1/auth/token", json={"phone": phone, "pin": pin})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _order(http: httpx.Client, me: dict[str, str], offer: dict[str, Any], **delivery: str) -> Any:
    body = {
        "items": [{"offer_id": offer["id"], "quantity": 1}],
        "delivery": delivery or {"method": "e_ticket"},
    }
    r = http.post("/v1/orders", json=body, headers={**me, **_key()})
    assert r.status_code == 201, r.text
    return r.json()


def _wait(fn: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_card_payment_completes_through_the_demo_gateway(demo_server: str) -> None:
    with httpx.Client(base_url=demo_server, timeout=30) as http:
        me = _login(http)
        offer = http.get("/v1/offers", params={"kind": "train"}).json()["items"][0]
        order = _order(http, me, offer)
        r = http.post(
            f"/v1/orders/{order['id']}/payments", json={"method": "card"}, headers={**me, **_key()}
        )
        assert r.status_code == 201, r.text
        pay_url = r.json()["pay_url"]
        assert pay_url.startswith(demo_server + "/pay/"), "pay links follow HOTLINE_PORT"
        page = http.get(pay_url)
        assert page.status_code == 200 and "demo: no real card" in page.text
        assert "<script src=" not in page.text and "stripe.com" not in page.text
        path = pay_url.removeprefix(demo_server)
        r = http.post(f"{path}/charge", json={"payment_method": "pm_card_visa"})
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        status = _wait(
            lambda: (
                (s := http.get(f"/v1/orders/{order['id']}", headers=me).json()["status"])
                in ("paid", "fulfilling", "fulfilled")
                and s
            )
        )
        assert status in ("paid", "fulfilling", "fulfilled")

        declined = _order(http, me, offer)
        r = http.post(
            f"/v1/orders/{declined['id']}/payments",
            json={"method": "card"},
            headers={**me, **_key()},
        )
        path = r.json()["pay_url"].removeprefix(demo_server)
        r = http.post(f"{path}/charge", json={"payment_method": "pm_card_chargeDeclined"})
        assert r.json()["status"] == "failed", r.text
        assert http.get(f"/v1/orders/{declined['id']}", headers=me).json()["status"] == (
            "awaiting_payment"
        )


def test_demo_customer_affords_the_dearest_offer_and_the_courier_answers(
    demo_server: str,
) -> None:
    with httpx.Client(base_url=demo_server, timeout=30) as http:
        me = _login(http, 2)
        offers = http.get("/v1/offers", params={"limit": 100}).json()["items"]
        dearest = max(offers, key=lambda o: o["price"]["amount"])
        order = _order(http, me, dearest, method="courier", address="上海市黄浦区南京东路1号")
        r = http.post(
            f"/v1/orders/{order['id']}/payments",
            json={"method": "carrier_billing"},
            headers={**me, **_key()},
        )
        assert r.status_code in (200, 201), r.text

        def dispatched() -> list[Any]:
            rows = http.get(f"/v1/orders/{order['id']}/shipments", headers=me).json()
            return [s for s in rows if s["status"] == "dispatched"]

        [shipment] = _wait(dispatched)
        assert shipment["partner_code"] == "ems"
        assert shipment["tracking_number"].startswith("DEMO-EMS-")


def test_a_new_ticket_is_assigned_to_a_seeded_agent(demo_server: str) -> None:
    with httpx.Client(base_url=demo_server, timeout=30) as http:
        me = _login(http)
        r = http.post(
            "/v1/tickets",
            json={"category": "billing", "subject": "扣费疑问", "description": "话费扣了两次"},
            headers={**me, **_key()},
        )
        assert r.status_code == 201, r.text
        assert r.json()["assignee_id"], r.json()


def test_start_up_says_what_is_on_and_off(demo: Demo) -> None:
    text = demo.log.read_text()
    for expected in (
        "cards: on",
        "DEMO gateway",
        "redis: off",
        "worker: on",
        "sms: on",
        "demo courier: on",
        "stripe webhooks: off",
        f"{demo.base}/pay/",
    ):
        assert expected in text, expected


CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Chromium not installed")
def test_a_browser_pays_on_the_demo_card_form(demo_server: str) -> None:
    from playwright.sync_api import sync_playwright

    with httpx.Client(base_url=demo_server, timeout=30) as http:
        me = _login(http, 0)
        offer = http.get("/v1/offers", params={"kind": "flight"}).json()["items"][0]
        order = _order(http, me, offer)
        r = http.post(
            f"/v1/orders/{order['id']}/payments", json={"method": "card"}, headers={**me, **_key()}
        )
        pay_url = r.json()["pay_url"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            page.goto(pay_url)
            assert "no real card" in page.inner_text("#demo-banner")
            page.fill("#number", "4242 4242 4242 4242")
            page.click("#pay")
            page.wait_for_selector("#result[data-status=succeeded]", timeout=20_000)
            browser.close()
        assert http.get(f"/v1/orders/{order['id']}", headers=me).json()["status"] != (
            "awaiting_payment"
        )
