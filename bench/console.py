"""Console figures against one real uvicorn server process on loopback (PostgreSQL + Redis,
the demo seed, the in-process relay as under `make run`):

  - customer-360 page renders/s and p99 (a signed-in agent's server-side session), against
    the token-authenticated trivial GET /v1/me in the same run (alternating rounds, median
    round reported; goal: the page at >= 0.3 of the GET);
  - payment commit -> the agent's browser shows it: Chromium holds the caller's order open
    (SSE), the customer pays from the phone account through the JSON API, and the page
    records when `#order-state` turns paid (goal: p95 < 500 ms). Printed from *before* the
    payment request was sent (an upper bound) and from its reply (a lower bound: the commit
    happened before the reply);
  - the server process's own CPU time per request of each kind (/proc, Linux), which a busy
    shared machine disturbs less than requests/s.

    uv run python bench/console.py --requests 600 --concurrency 8 --rounds 5 --payments 30

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import auth  # noqa: E402
import payments  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from bench.auth import free_port, line, start_server, wait_up  # noqa: E402
from bench.rush import Request, fire, pct  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

PHONE, PIN = "+8613800138000", "274915"  # the demo caller (api/seeds/auth.py)
AGENT, PASSWORD = "agent", "hotline-demo-2026"
CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")


async def seed(env: dict[str, str]) -> str:
    """The demo seed of every room, on this scratch database; returns the caller's id."""
    from api.seeds import auth as s_auth
    from api.seeds import commerce as s_commerce
    from api.seeds import payments as s_payments
    from api.seeds import ticketing as s_ticketing

    runtime = Runtime.build(load_settings(environ=env))
    try:
        for module in (s_auth, s_commerce, s_payments, s_ticketing):
            await module.seed_demo(runtime)
        async with runtime.sessions() as session, session.begin():
            customer = await auth.find_customer_by_phone(session, PHONE)
            assert customer is not None
            await payments.top_up(  # enough on the phone account for every payment below
                session,
                customer.id,
                10_000_000,
                reference="bench-console",
                actor="system:bench",
                currency=runtime.settings.currency,
                now=runtime.clock.now(),
            )
        return customer.id
    finally:
        await runtime.close()


def order_for_caller(http: httpx.Client, token: str, offer_id: str) -> str:
    r = http.post(
        "/v1/orders",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        json={"items": [{"offer_id": offer_id, "quantity": 1}], "delivery": {"method": "e_ticket"}},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def pay(http: httpx.Client, token: str, order_id: str) -> None:
    r = http.post(
        f"/v1/orders/{order_id}/payments",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        json={"method": "carrier_billing"},
    )
    assert r.status_code == 201, r.text


def sign_in(http: httpx.Client) -> str:
    form = http.get("/console/sign-in")
    csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert csrf
    r = http.post(
        "/console/sign-in",
        data={"_csrf": csrf.group(1), "username": AGENT, "password": PASSWORD},
    )
    assert r.status_code == 303, r.text[:200]
    return str(http.cookies["hotline_session"])


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    args: argparse.Namespace, url: str, session_id: str, token: str, cid: str, pid: int
) -> None:
    page: Request = (
        "GET",
        f"/console/customers/{cid}",
        {"Cookie": f"hotline_session={session_id}"},
        None,
    )
    me: Request = ("GET", "/v1/me", {"Authorization": f"Bearer {token}"}, None)
    kinds = {"GET /v1/me (token)": me, "customer-360 page (session)": page}
    for request in kinds.values():
        await fire([url], 100, args.concurrency, lambda i, r=request: r)  # warm up
    rounds: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
    cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
    for _ in range(args.rounds):
        for name, request in kinds.items():
            before = cpu_seconds(pid)
            elapsed, lat, codes = await fire(
                [url], args.requests, args.concurrency, lambda i, r=request: r
            )
            cpu[name] += cpu_seconds(pid) - before
            assert codes == {200: args.requests}, (name, codes)
            rounds[name].append((args.requests / elapsed, lat))
    median: dict[str, float] = {}
    for name, results in rounds.items():
        rps, lat = sorted(results, key=lambda r: r[0])[len(results) // 2]
        median[name] = statistics.median(r[0] for r in results)
        print(line(name, args.requests, rps, lat))
    ratio = median["customer-360 page (session)"] / median["GET /v1/me (token)"]
    print(f"  customer-360 / trivial GET: {ratio:.2f} (goal >= 0.3)")
    per = {name: 1000 * used / (args.requests * args.rounds) for name, used in cpu.items()}
    print(
        "  server CPU per request: "
        + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per.items())
        + f"; page / GET {per['customer-360 page (session)'] / per['GET /v1/me (token)']:.1f}x"
    )


def live_delay(args: argparse.Namespace, url: str, session_id: str, token: str, cid: str) -> None:
    from playwright.sync_api import sync_playwright

    http = httpx.Client(base_url=url, timeout=10)
    offer = http.get("/v1/offers", params={"q": "JAY2026"}).json()["items"][0]["id"]
    delays: list[float] = []  # from before the payment request was sent (upper bound)
    after_reply: list[float] = []  # from its reply (the commit happened before: lower bound)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        ctx = browser.new_context()
        ctx.add_cookies([{"name": "hotline_session", "value": session_id, "url": url}])
        page = ctx.new_page()
        for _ in range(args.payments):
            order_id = order_for_caller(http, token, offer)
            page.goto(f"{url}/console/customers/{cid}")
            page.click(f"#order-{order_id} a")
            page.wait_for_selector("[data-order-live][data-sse=open]", state="attached")
            page.evaluate(
                """() => { window.paidAt = null;
                  new MutationObserver(() => {
                    const s = document.querySelector('#order-state');
                    if (s && s.dataset.status !== 'awaiting_payment' && !window.paidAt)
                      window.paidAt = Date.now();
                  }).observe(document.body, {subtree: true, childList: true, attributes: true});
                }"""
            )
            sent = time.time() * 1000
            pay(http, token, order_id)
            replied = time.time() * 1000
            page.wait_for_function("() => window.paidAt !== null", timeout=10_000)
            shown = page.evaluate("() => window.paidAt")
            delays.append(shown - sent)
            after_reply.append(max(0.0, shown - replied))
        browser.close()
    print(
        f"  payment commit -> browser shows it ({len(delays)} payments), from the request: "
        f"p50 {pct(delays, 50):.0f} ms  p95 {pct(delays, 95):.0f} ms  max {max(delays):.0f} ms"
        " (goal p95 < 500 ms)\n"
        f"  the same from the payment's reply: p50 {pct(after_reply, 50):.0f} ms  "
        f"p95 {pct(after_reply, 95):.0f} ms"
    )


def main(args: argparse.Namespace, db_url: str) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HOTLINE_ENV": "demo",  # the in-process relay and periodic jobs, as under `make run`
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_PUBLIC_BASE_URL": url,
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),
    }
    cid = asyncio.run(seed(env))
    server = start_server("api.app:create_app", port, env)
    try:
        wait_up(url)
        http = httpx.Client(base_url=url, timeout=10)
        token = http.post("/v1/auth/token", json={"phone": PHONE, "pin": PIN}).json()[
            "access_token"
        ]
        offer = http.get("/v1/offers", params={"q": "JAY2026"}).json()["items"][0]["id"]
        for i in range(6):  # a caller with history: orders, payments, e-ticket shipments
            order_id = order_for_caller(http, token, offer)
            if i % 2 == 0:
                pay(http, token, order_id)
        session_id = sign_in(http)
        print(
            f"console bench: 1 uvicorn process, concurrency {args.concurrency}, "
            f"{args.rounds} alternating rounds (median round shown); shared 2-CPU machine"
        )
        asyncio.run(throughput(args, url, session_id, token, cid, server.pid))
        live_delay(args, url, session_id, token, cid)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=600, help="requests per round")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--payments", type=int, default=30)
    db_name, db_url = create_database("hotline_bench_console")
    try:
        upgrade(db_url)
        main(p.parse_args(), db_url)
    finally:
        drop_database(db_name)
