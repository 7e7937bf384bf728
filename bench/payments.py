"""Payments throughput: carrier-billing charges/s and Stripe webhook events/s with p50/p99,
each next to a trivial GET (`/health`) measured in the same run on the same server.

- carrier billing: N orders (real commerce holds) charged concurrently to phone accounts via
  the payments service (conditional-UPDATE debit + payment row + ledger + mark_paid) on
  PostgreSQL, C at a time. In-process, not over HTTP: the HTTP route needs the auth room's
  guards; the trivial GET ratio is therefore only indicative.
- webhooks: signed `payment_intent.succeeded` events (distinct ids) POSTed over HTTP to a live
  server; each is verified, recorded once, re-fetched from localstripe and settled (a no-op for
  an already-paid attempt, as most real deliveries are).

    uv run python bench/payments.py --charges 300 --events 300 --concurrency 16

Prints figures; never asserts on time. Needs PostgreSQL and Redis as for the tests; uses a
scratch database and drops it afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import upgrade  # noqa: E402
from core.principal import Principal  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from payments import PaymentDeps, StripeGateway, carrier, start_payment  # noqa: E402
from payments.orders import CommerceOrders  # noqa: E402
from tests.conftest import create_database, drop_database, make_test_settings  # noqa: E402
from tests.integration.payments.helpers import event, place_order, signed  # noqa: E402
from tests.stripe_fixtures import run_localstripe, run_pay_server  # noqa: E402

AGENT = Principal("agent", "bench", frozenset({"agent"}))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(
    n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> dict[str, float]:
    latencies: list[float] = []
    sem = asyncio.Semaphore(concurrency)

    async def run(i: int) -> None:
        async with sem:
            t = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - t)

    start = time.perf_counter()
    await asyncio.gather(*(run(i) for i in range(n)))
    wall = time.perf_counter() - start
    return {
        "per_s": n / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
    }


async def trivial_gets(base: str, n: int, concurrency: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def one(_: int) -> None:
            r = await http.get("/health")
            assert r.status_code == 200

        return await timed(n, concurrency, one)


def line(name: str, figures: dict[str, float], floor: dict[str, float]) -> str:
    return (
        f"{name:<28} {figures['per_s']:8.1f}/s  p50 {figures['p50_ms']:7.1f} ms  "
        f"p99 {figures['p99_ms']:7.1f} ms   "
        f"ratio to trivial GET {figures['per_s'] / floor['per_s']:.2f}"
    )


def main(args: argparse.Namespace) -> None:
    name, url = create_database("hotline_bench")
    try:
        upgrade(url)
        with run_localstripe() as ls, run_pay_server(url, ls) as server:
            asyncio.run(run(args, url, ls, server))
    finally:
        drop_database(name)


async def run(args: argparse.Namespace, url: str, ls: Any, server: Any) -> None:
    runtime = Runtime.build(make_test_settings(url))
    deps = PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=ls.url),
        public_base_url=server.url,
    )

    # --- carrier billing -------------------------------------------------------------
    orders = [await place_order(runtime, price=1000) for _ in range(args.charges)]
    async with runtime.sessions() as s, s.begin():
        for o in orders:
            await carrier.open_account(
                s, o.customer_id, currency="CNY", now=runtime.clock.now(), balance=10**9
            )

    async def charge(i: int) -> None:
        async with runtime.sessions() as s, s.begin():
            await start_payment(
                s,
                deps,
                orders[i].id,
                "carrier_billing",
                principal=AGENT,
                request_key=uuid.uuid4().hex,
                now=runtime.clock.now(),
            )

    floor1 = await trivial_gets(server.url, args.gets, args.concurrency)
    charges = await timed(args.charges, args.concurrency, charge)

    # --- webhooks ----------------------------------------------------------------------
    pay_ids: list[tuple[str, str]] = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for _ in range(args.payments):
            o = await place_order(runtime, price=1000)
            async with runtime.sessions() as s, s.begin():
                p = await start_payment(
                    s,
                    deps,
                    o.id,
                    "card",
                    principal=AGENT,
                    request_key=uuid.uuid4().hex,
                    now=runtime.clock.now(),
                )
            await http.get(f"/pay/{p.pay_token}")
            r = await http.post(
                f"/pay/{p.pay_token}/charge",
                json={"payment_method": ls.create_card_method("4242424242424242")},
            )
            assert r.json()["status"] == "succeeded", r.text
            async with runtime.sessions() as s:
                from payments.models import Payment

                row = await s.get_one(Payment, p.id)
            pay_ids.append((p.id, row.intent_id or ""))
        await asyncio.sleep(2)  # let localstripe's own deliveries land first

        async def deliver(i: int) -> None:
            pid, intent = pay_ids[i % len(pay_ids)]
            ev: dict[str, Any] = event(
                "payment_intent.succeeded", {"id": intent, "metadata": {"payment_id": pid}}
            )
            body, sig = signed(ls.webhook_secret, ev)
            r = await http.post(
                "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sig}
            )
            assert r.status_code == 200, r.text

        floor2 = await trivial_gets(server.url, args.gets, args.concurrency)
        hooks = await timed(args.events, args.concurrency, deliver)

    print(
        f"payments bench: {args.charges} charges, {args.events} webhook events, "
        f"concurrency {args.concurrency} (shared 2-CPU machine; indicative only)"
    )
    print(line("trivial GET /health (1)", floor1, floor1))
    print(line("carrier-billing charges", charges, floor1))
    print(line("trivial GET /health (2)", floor2, floor2))
    print(line("stripe webhook events", hooks, floor2))
    await runtime.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--charges", type=int, default=300)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--payments", type=int, default=20, help="card payments events refer to")
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    main(parser.parse_args())
