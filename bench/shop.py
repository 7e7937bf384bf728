"""Shop page renders against one uvicorn server process on loopback and a scratch PostgreSQL
database, in the same run as the token-authenticated trivial GET (/v1/me):
  - the offer list (GET /shop/, anonymous, 20 offers from the database),
  - the order page (GET /shop/orders/{id}, a customer's server-side session in Redis, the
    session re-checked against the database, the order, its payments and shipments),
with renders/s, p50/p99, the ratio to the trivial GET, and the bytes each page transfers
(document + stylesheet; no other requests). Rounds alternate (median round shown) so drift on
a shared machine hits every kind alike; the keep-alive client is bench/rush.py's.

    uv run python bench/shop.py --requests 2000 --concurrency 16 --rounds 5

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import auth  # noqa: E402
import commerce  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from bench.auth import free_port, line, wait_up  # noqa: E402
from bench.rush import Request, fire  # noqa: E402
from core.money import Money  # noqa: E402
from core.principal import Principal  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.auth_fixtures import random_cn_mobile  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

PIN = "274915"


async def seed(runtime: Runtime) -> tuple[str, str, str]:
    """20 offers, a customer with a PIN and one order; (phone, token, order id)."""
    now = runtime.clock.now()
    phone = random_cn_mobile()
    async with runtime.sessions() as s, s.begin():
        for i in range(20):
            await commerce.create_offer(
                s,
                kind=("event", "train", "flight", "hotel")[i % 4],
                title=f"演出 Bench show {i}",
                venue="上海体育场 Shanghai Stadium",
                starts_at=now + timedelta(days=3 + i),
                price=Money(68000 + i, "CNY"),
                capacity=500,
                code=f"B{i:03d}{uuid.uuid4().hex[:3].upper()}",
                currency="CNY",
                now=now,
            )
        customer = await auth.create_customer(runtime, s, phone=phone, pin=PIN)
        offer = (
            await commerce.search_offers(s, now=now, zone=runtime.settings.zone, limit=1)
        ).items[0]
        order = await commerce.place_order(
            s,
            customer_id=customer.id,
            lines=[commerce.LineRequest(offer.id, 2)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=Principal("customer", customer.id).actor,
            channel="web",
            settings=runtime.settings,
            now=now,
        )
    token, _ = auth.customer_token(runtime, customer)
    return phone, token, order.id


def shop_cookie(base: str, phone: str) -> str:
    """Sign in through the form, as a browser does; the session cookie it sets."""
    with httpx.Client(base_url=base, follow_redirects=False) as http:
        form = http.get("/shop/sign-in")
        match = re.search(r'name="_csrf" value="([^"]+)"', form.text)
        assert match is not None
        r = http.post("/shop/sign-in", data={"_csrf": match.group(1), "phone": phone, "pin": PIN})
        assert r.status_code == 303, r.text
        return f"hotline_session={http.cookies['hotline_session']}"


def weight(base: str, path: str, cookie: str) -> int:
    headers = {"Cookie": cookie} if cookie else {}
    doc = httpx.get(base + path, headers=headers)
    css = httpx.get(base + "/shop/assets/shop.css")
    assert doc.status_code == 200, (path, doc.status_code)
    head = sum(len(k) + len(v) + 4 for k, v in doc.headers.items())
    head += sum(len(k) + len(v) + 4 for k, v in css.headers.items())
    return len(doc.content) + len(css.content) + head


async def main(args: argparse.Namespace, url: str) -> None:
    env = {
        **os.environ,
        "HOTLINE_ENV": "demo",
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),
    }
    settings = load_settings(environ=env)
    runtime = Runtime.build(settings)
    phone, token, order_id = await seed(runtime)
    await runtime.close()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,  # slow-request log lines would drown the figures
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(base)
        cookie = shop_cookie(base, phone)
        bearer = {"Authorization": f"Bearer {token}"}

        def get(path: str, headers: dict[str, str]) -> Request:
            return "GET", path, headers, None

        kinds = {
            "GET /v1/me (token)": lambda i: get("/v1/me", bearer),
            "GET /shop/ (offer list)": lambda i: get("/shop/", {}),
            "GET /shop/orders/{id} (order page)": lambda i: get(
                f"/shop/orders/{order_id}", {"Cookie": cookie}
            ),
        }
        for make in kinds.values():  # warm up every path
            await fire([base], 200, args.concurrency, make)
        rounds: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
        for _ in range(args.rounds):
            for name, make in kinds.items():
                elapsed, lat, codes = await fire([base], args.requests, args.concurrency, make)
                assert codes == {200: args.requests}, (name, codes)
                rounds[name].append((args.requests / elapsed, lat))
        print(
            f"shop bench: 1 uvicorn process, concurrency {args.concurrency}, "
            f"{args.rounds} alternating rounds (median round shown); shared 2-CPU machine"
        )
        median: dict[str, float] = {}
        for name, results in rounds.items():
            rps, lat = sorted(results, key=lambda r: r[0])[len(results) // 2]
            median[name] = statistics.median(r[0] for r in results)
            print(line(name, args.requests, rps, lat))
        plain = median["GET /v1/me (token)"]
        for name in list(kinds)[1:]:
            print(f"  {name}: {median[name] / plain:.2f} of the trivial GET")
        print(f"  bytes, offer list (document + stylesheet): {weight(base, '/shop/', '')}")
        order_bytes = weight(base, f"/shop/orders/{order_id}", cookie)
        print(f"  bytes, order page (document + stylesheet): {order_bytes}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="requests per round and kind")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=5)
    db_name, db_url = create_database("hotline_bench_shop")
    try:
        upgrade(db_url)
        asyncio.run(main(p.parse_args(), db_url))
    finally:
        drop_database(db_name)
