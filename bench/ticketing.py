"""Ticketing figures: business-time arithmetic per second, and one escalation pass over N due
tickets on PostgreSQL (fresh database). Prints figures; asserts nothing.

    uv run python -m bench.ticketing --tickets 200
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import ticketing
from api.migrate import upgrade
from core.principal import Principal
from core.runtime import Runtime
from tests.conftest import create_database, drop_database, make_test_settings
from ticketing.calendar import add_business_seconds, business_seconds, default_calendar

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def arithmetic(n: int) -> None:
    cal = default_calendar()
    start = time.perf_counter()
    for i in range(n):
        due = add_business_seconds(cal, T0 + timedelta(minutes=i), 3 * 8 * 3600)
        business_seconds(cal, T0, due)
    dt = time.perf_counter() - start
    print(f"add+measure (3 business days, Shanghai calendar): {n / dt:,.0f} pairs/s")


async def escalation(n: int, url: str) -> None:
    rt = Runtime.build(make_test_settings(url))
    code = f"q{uuid.uuid4().hex[:6]}"
    async with rt.sessions() as s, s.begin():
        await ticketing.upsert_calendar(
            s,
            name="all",
            zone="UTC",
            hours={d: [(0, 1440)] for d in range(7)},
            holidays=[],
            now=T0,
        )
        await ticketing.upsert_queue(
            s,
            code=code,
            name=code,
            calendar_name="all",
            categories=[],
            supervisor_id=None,
            now=T0,
        )
    start = time.perf_counter()
    for i in range(n):
        async with rt.sessions() as s, s.begin():
            await ticketing.open_ticket(
                s,
                Principal("customer", uuid.uuid4().hex),
                now=T0,
                category="billing",
                subject=f"t{i}",
                description="bench",
                priority="urgent",
                queue=code,
            )
    dt = time.perf_counter() - start
    print(f"open ticket: {n / dt:,.0f} tickets/s ({dt / n * 1000:.1f} ms each)")
    start = time.perf_counter()
    fired = 0
    while True:
        run = await ticketing.escalate_due(rt.sessions, T0 + timedelta(days=1))
        fired += len(run.fired)
        if not run.fired:
            break
    dt = time.perf_counter() - start
    print(f"escalation: {fired} fires over {n} tickets in {dt:.2f} s ({fired / dt:,.0f} fires/s)")
    await rt.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tickets", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=2000)
    args = ap.parse_args()
    print("figures from a shared 2-CPU machine (other engineers' tests running)")
    arithmetic(args.pairs)
    name, url = create_database("tk_bench")
    try:
        upgrade(url)
        asyncio.run(escalation(args.tickets, url))
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
