"""What `make run` gives a newcomer: `hotline run` on embedded defaults (SQLite file, in-process
worker, SMS sink, built-in carrier billing) migrates, seeds the demo, serves, and a demo caller
can log in, book, pay on the phone account and receive the e-ticket by SMS.

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
from pathlib import Path

import httpx
import pytest

from api.seeds.auth import CUSTOMERS, DEMO_PASSWORD

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


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
