"""Fulfillment throughput from paid orders: orders placed and then paid through the commerce
room (`commerce.mark_paid` emits `order.paid` in the outbox, as a real payment does) -> real
`python -m api.worker` processes (relay + Dramatiq over Redis + the order.paid job + dispatch)
-> a local signed partner. Paid-to-partner-received dispatches/s and p50/p95 latency with 1 and
2 worker processes, then the latency of lone orders paid one at a time on the same workers,
and in the same run a no-op Dramatiq actor's throughput on the same Redis, with the ratio.

    .venv/bin/python bench/fulfillment.py --shipments 200

The orders of a run are placed first (not measured) and paid together in one transaction, so
the whole burst of `order.paid` is committed at one instant; latency runs from that instant
to the partner's first receipt of each shipment. Prints figures, asserts nothing about time.
Needs PostgreSQL and Redis as in the tests; uses a scratch database and Redis DB 5 with a
unique key prefix, and removes both afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import dramatiq
import redis
import redis.asyncio
from sqlalchemy import select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import commerce  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from core.broker import make_broker  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.doorbell import Doorbell  # noqa: E402
from core.doorbell import channel as doorbell_channel  # noqa: E402
from core.outbox import add_ringer, remove_ringer  # noqa: E402
from core.settings import load_settings  # noqa: E402
from fulfillment import Partner, PartnerIn, Shipment, register_partner  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402
from tests.courier_orders import one_seat_offer, place_courier_orders  # noqa: E402
from tests.partner_server import PartnerServer  # noqa: E402

REDIS = "redis://127.0.0.1:6379/5"
LONE = 10  # lone orders per run, paid one at a time after the burst


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def place_orders(sessions: Any, count: int) -> list[str]:
    """`count` courier orders of one ticket each, held but not paid yet."""
    now = SystemClock().now()
    settings = load_settings(environ={}, env="test", secret_key=uuid.uuid4().hex * 2)
    async with sessions() as session, session.begin():
        offer = await one_seat_offer(session, count, now=now, title="bench")
        return await place_courier_orders(session, offer.id, count, settings=settings, now=now)


async def pay(sessions: Any, order_ids: list[str]) -> float:
    """Mark the orders paid in one transaction; returns the instant it committed (the jobs
    cannot start before: the time the bench itself takes to pay 200 orders is not theirs)."""
    now = SystemClock().now()
    async with sessions() as session, session.begin():
        for order_id in order_ids:
            result = await commerce.mark_paid(
                session, order_id, actor="system", channel="system", reason="bench", now=now
            )
            assert result.outcome == "paid", result.outcome
    return time.time()


async def shipment_of(sessions: Any, order_ids: list[str]) -> dict[str, str]:
    """order id -> shipment id, for the orders that have one."""
    async with sessions() as session:
        rows = await session.execute(
            select(Shipment.order_id, Shipment.id).where(Shipment.order_id.in_(order_ids))
        )
        return {order_id: shipment_id for order_id, shipment_id in rows}


async def run_fulfillment(db_url: str, processes: int, n: int, prefix: str) -> dict[str, float]:
    partner = PartnerServer(secret=uuid.uuid4().hex).start()
    env = {
        **os.environ,
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": REDIS,
        "HOTLINE_REDIS_PREFIX": prefix,
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_WORKER": "dramatiq",
        "HOTLINE_WORKER_THREADS": "8",
    }
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    # As an API process does (api.wiring.on_startup): its commits ring the workers' relays.
    ringer = redis.asyncio.Redis.from_url(REDIS)
    bell = Doorbell(ringer, doorbell_channel(prefix))
    add_ringer(bell.ring)
    code = f"b{uuid.uuid4().hex[:8]}"
    async with sessions() as session, session.begin():
        await session.execute(update(Partner).values(active=False))
        await register_partner(
            session,
            PartnerIn(code, "bench", "http", partner.url, partner.secret, None, 1500),
            currency="CNY",
            now=SystemClock().now(),
        )

    async def wait_received(order_ids: list[str], timeout: float) -> dict[str, str]:
        deadline = time.monotonic() + timeout
        while True:
            shipments = await shipment_of(sessions, order_ids)
            got = partner.accepted_keys() & set(shipments.values())
            if len(got) == len(order_ids) or time.monotonic() > deadline:
                return shipments
            await asyncio.sleep(0.1)

    warm = await place_orders(sessions, processes * 2)
    orders = await place_orders(sessions, n)
    lone = await place_orders(sessions, LONE)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "api.worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(processes)
    ]
    try:
        await pay(sessions, warm)  # wait until every process is up and dispatching
        await wait_received(warm, 120)
        await asyncio.sleep(1.0)
        paid_at = await pay(sessions, orders)
        shipments = await wait_received(orders, 300)
        first_seen: dict[str, float] = {}
        for r in partner.received:
            if r.key not in first_seen:
                first_seen[r.key] = r.wall
        lat = [first_seen[s] - paid_at for s in shipments.values() if s in first_seen]
        elapsed = max(lat) if lat else 0.0
        # A lone order on idle workers, one at a time: what one customer waits for.
        alone: list[float] = []
        for order_id in lone:
            await asyncio.sleep(0.3)
            paid_at = await pay(sessions, [order_id])
            (shipment,) = (await wait_received([order_id], 30)).values()
            seen = [r.wall for r in list(partner.received) if r.key == shipment]
            if seen:
                alone.append(min(seen) - paid_at)
        return {
            "received": len(lat),
            "per_s": len(lat) / elapsed if elapsed > 0 else 0.0,
            "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"),
            "p95_ms": pct(lat, 0.95) * 1000 if lat else float("nan"),
            "lone_p50_ms": statistics.median(alone) * 1000 if alone else float("nan"),
            "lone_max_ms": max(alone) * 1000 if alone else float("nan"),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
        partner.stop()
        remove_ringer(bell.ring)
        await ringer.aclose()
        await engine.dispose()


def run_noop(n: int, prefix: str) -> float:
    settings = load_settings(environ={}, env="test", redis_url=REDIS, redis_prefix=prefix)
    broker = make_broker(settings)
    done = threading.Event()
    count = {"n": 0}
    lock = threading.Lock()

    def noop(i: int) -> None:
        with lock:
            count["n"] += 1
            if count["n"] >= n:
                done.set()

    actor = dramatiq.Actor(
        noop, broker=broker, actor_name="bench.noop", queue_name="bench", priority=0, options={}
    )
    for i in range(n):
        actor.send(i)
    worker = dramatiq.Worker(broker, queues={"bench"}, worker_threads=8)
    start = time.monotonic()
    worker.start()
    done.wait(120)
    elapsed = time.monotonic() - start
    worker.stop()
    broker.close()
    return n / elapsed


def cleanup_redis(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=200)
    args = parser.parse_args()
    name, url = create_database("hotline_bench_ff")
    prefix = f"bf{uuid.uuid4().hex[:8]}"
    try:
        upgrade(url)
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(
            f"fulfillment bench: {args.shipments} paid orders per run, paid-to-partner-received"
            f" (shared {os.cpu_count()}-CPU machine)"
        )
        results = {}
        for procs in (1, 2):
            r = asyncio.run(run_fulfillment(url, procs, args.shipments, f"{prefix}{procs}"))
            results[procs] = r
            print(
                f"  {procs} worker process(es): {r['per_s']:.1f} dispatches/s, "
                f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms "
                f"(received {r['received']:.0f}); lone order p50 {r['lone_p50_ms']:.0f} ms,"
                f" max {r['lone_max_ms']:.0f} ms ({LONE} orders)"
            )
        noop = run_noop(args.shipments * 5, f"{prefix}n")
        print(f"  no-op Dramatiq actor (1 process, 8 threads): {noop:.1f} messages/s")
        for procs, r in results.items():
            print(f"  ratio dispatch({procs} proc)/no-op: {r['per_s'] / noop:.3f}")
    finally:
        drop_database(name)
        cleanup_redis(prefix)


if __name__ == "__main__":
    main()
