"""Ticketing figures on PostgreSQL (fresh database): business-time arithmetic per second;
tickets opened over HTTP (`POST /v1/tickets` by customers, with an Idempotency-Key, into a
queue with agents to assign to) next to a token-authenticated trivial GET (`/v1/me`) measured
in alternating rounds on the same uvicorn process (the median round is reported); then
escalation passes over the N due tickets (in-process, as the worker's periodic job runs them).
Prints figures; asserts nothing about time (it does check that every ticket was opened once and
every due level fired once).

    uv run python -m bench.ticketing --tickets 1500 --concurrency 16 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

import ticketing
from api.migrate import upgrade
from bench.rush import Request, fire, pct
from core.runtime import Runtime
from tests.auth_fixtures import make_agent, make_customer
from tests.conftest import create_database, drop_database, make_test_settings
from tests.integration.commerce.servers import uvicorn_servers
from ticketing.calendar import add_business_seconds, business_seconds, default_calendar
from ticketing.models import Escalation, Ticket

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # arithmetic's start


def arithmetic(n: int) -> None:
    cal = default_calendar()
    start = time.perf_counter()
    for i in range(n):
        due = add_business_seconds(cal, T0 + timedelta(minutes=i), 3 * 8 * 3600)
        business_seconds(cal, T0, due)
    dt = time.perf_counter() - start
    print(f"add+measure (3 business days, Shanghai calendar): {n / dt:,.0f} pairs/s")


async def setup_queue(rt: Runtime, agents: int) -> str:
    """A 24/7 queue taking `billing` tickets, with `agents` available agents (cap 5 each), so
    openings run the automatic assignment too, then pile up unassigned as in a busy hour."""
    code = f"q{uuid.uuid4().hex[:6]}"
    now = rt.clock.now()
    ids = [(await make_agent(rt)).id for _ in range(agents)]
    async with rt.sessions() as s, s.begin():
        await ticketing.upsert_calendar(
            s, name="all", zone="UTC", hours={d: [(0, 1440)] for d in range(7)}, holidays=[],
            now=now,
        )  # fmt: skip
        await ticketing.upsert_queue(
            s, code=code, name=code, calendar_name="all", categories=["billing"],
            supervisor_id=ids[0] if ids else None, now=now,
        )  # fmt: skip
        for agent_id in ids:
            await ticketing.set_agent(s, agent_id, available=True, cap=5, queues=[code])
    return code


def figures(n: int, elapsed: float, lat: list[float], codes: dict[int, int]) -> dict[str, Any]:
    ok = sum(c for status, c in codes.items() if status < 300)
    return {"per_s": ok / elapsed, "p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000,
            "codes": codes}  # fmt: skip


def line(name: str, f: dict[str, Any], floor: dict[str, Any]) -> str:
    return (
        f"{name:<28} {f['per_s']:8.1f}/s  p50 {f['p50']:7.1f} ms  p99 {f['p99']:7.1f} ms  "
        f"ratio to trivial GET {f['per_s'] / floor['per_s']:.2f}  codes {f['codes']}"
    )


async def open_over_http(rt: Runtime, url: str, args: Any) -> None:
    customers = [await make_customer(rt) for _ in range(args.customers)]
    me = customers[0].headers

    def get(i: int) -> Request:
        return "GET", "/v1/me", me, None

    def ticket(i: int) -> Request:
        body = {"category": "billing", "subject": f"话费扣错了 {i}",
                "description": "上个月的账单多扣了 30 元", "priority": "urgent"}  # fmt: skip
        headers = {**customers[i % len(customers)].headers, "Idempotency-Key": f"t{i}"}
        return "POST", "/v1/tickets", headers, json.dumps(body).encode()

    await fire([url], 200, args.concurrency, get)  # warm up: connections, statements
    await fire([url], 2 * args.concurrency, args.concurrency, lambda i: ticket(10**6 + i))
    # GETs and tickets in alternating rounds, each round's tickets against the faster of the
    # GET rounds either side, and the median round reported: this shared machine's speed
    # drifts within seconds, and the ratio must neither flatter nor wrong the tickets.
    per = max(1, args.tickets // args.rounds)
    gets = [figures(args.gets, *await fire([url], args.gets, args.concurrency, get))]
    rounds: list[tuple[float, dict[str, Any], dict[str, Any]]] = []
    for r in range(args.rounds):

        def round_ticket(i: int, base: int = r * per) -> Request:
            return ticket(base + i)

        done = figures(per, *await fire([url], per, args.concurrency, round_ticket))
        gets.append(figures(args.gets, *await fire([url], args.gets, args.concurrency, get)))
        floor = max(gets[-2], gets[-1], key=lambda f: f["per_s"])
        rounds.append((done["per_s"] / floor["per_s"], done, floor))
    ratios = sorted(r[0] for r in rounds)
    _, opened, floor = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]
    print(line("trivial GET /v1/me", floor, floor))
    print(line("open a ticket (HTTP)", opened, floor))
    print("  ratio per round: " + " ".join(f"{x:.2f}" for x in ratios))
    args.tickets = per * args.rounds
    async with rt.sessions() as s:
        rows = await s.scalar(select(func.count()).select_from(Ticket))
    print(f"  tickets in the database: {rows} (expected {args.tickets + 2 * args.concurrency})")


async def escalation(rt: Runtime) -> None:
    """Every level of every (urgent) ticket is due a day on: passes until none fires."""
    later = rt.clock.now() + timedelta(days=1)
    start = time.perf_counter()
    fired = 0
    while True:
        run = await ticketing.escalate_due(rt.sessions, later)
        fired += len(run.fired)
        if not run.fired and not run.failed:
            break
    dt = time.perf_counter() - start
    async with rt.sessions() as s:
        rows = await s.scalar(select(func.count()).select_from(Escalation))
        tickets = await s.scalar(select(func.count()).select_from(Ticket))
    print(f"escalation: {fired} fires over {tickets} tickets in {dt:.2f} s "
          f"({fired / dt:,.0f} fires/s); escalation rows {rows}")  # fmt: skip


async def run(args: Any, url: str) -> None:
    settings = make_test_settings(url)
    rt = Runtime.build(settings)
    await setup_queue(rt, args.agents)
    with uvicorn_servers(settings, count=1) as urls:
        await open_over_http(rt, urls[0], args)
    await escalation(rt)
    await rt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=600)
    ap.add_argument("--gets", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--customers", type=int, default=32)
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=2000)
    args = ap.parse_args()
    print(
        f"bench/ticketing.py: {args.tickets} tickets, concurrency {args.concurrency}, "
        "1 uvicorn process; figures from a shared 2-CPU machine (indicative only)"
    )
    arithmetic(args.pairs)
    name, url = create_database("tk_bench")
    try:
        upgrade(url)
        asyncio.run(run(args, url))
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
