"""Fulfillment throughput: shipments created (what the order.paid job does, with its outbox
message) -> real `python -m api.worker` processes (relay + Dramatiq over Redis) -> a local
signed partner; dispatches/s and p50/p95 latency with 1 and 2 worker processes, and in the
same run a no-op Dramatiq actor's throughput on the same Redis, with the ratio.

    uv run python bench/fulfillment.py --shipments 200

Prints figures, asserts nothing about time. Needs PostgreSQL and Redis as in the tests; uses a
scratch database and Redis DB 5 with a unique key prefix, and removes both afterwards.
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

import dramatiq
import redis
from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import upgrade  # noqa: E402
from core.broker import make_broker  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.settings import load_settings  # noqa: E402
from fulfillment import (  # noqa: E402
    OrderItem,
    OrderSnapshot,
    Partner,
    PartnerIn,
    RetryPolicy,
    Shipment,
    create_shipments,
    register_partner,
)
from tests.conftest import create_database, drop_database  # noqa: E402
from tests.partner_server import PartnerServer  # noqa: E402

REDIS = "redis://127.0.0.1:6379/5"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


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
    clock = SystemClock()
    code = f"b{uuid.uuid4().hex[:8]}"
    async with sessions() as session, session.begin():
        await session.execute(update(Partner).values(active=False))
        await register_partner(
            session,
            PartnerIn(code, "bench", "http", partner.url, partner.secret, None, 1500),
            currency="CNY",
            now=clock.now(),
        )

    async def create(count: int) -> list[str]:
        ids: list[str] = []
        async with sessions() as session, session.begin():
            for _ in range(count):
                oid = uuid.uuid4().hex
                snap = OrderSnapshot(
                    oid,
                    oid[:8],
                    "courier",
                    "张三",
                    "+8613800138000",
                    "北京",
                    items=(OrderItem("ticket", 1, ("X",)),),
                )
                [s] = await create_shipments(session, snap, now=clock.now(), policy=RetryPolicy())
                ids.append(s.id)
        return ids

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
        warm = await create(processes * 2)  # wait until every process is up and dispatching
        while len(partner.accepted_keys() & set(warm)) < len(warm):
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        ids = await create(n)
        async with sessions() as session:
            created = {
                i: c.timestamp()
                for i, c in await session.execute(
                    select(Shipment.id, Shipment.created_at).where(Shipment.id.in_(ids))
                )
            }
        start = min(created.values())
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            async with sessions() as session:
                done = await session.scalar(
                    select(func.count())
                    .select_from(Shipment)
                    .where(Shipment.id.in_(ids), Shipment.status == "dispatched")
                )
            if done == n:
                break
            await asyncio.sleep(0.2)
        first_seen = {}
        for r in partner.received:
            if r.key in created and r.key not in first_seen:
                first_seen[r.key] = r.wall
        lat = [first_seen[i] - created[i] for i in ids if i in first_seen]
        elapsed = max(first_seen.values()) - start
        return {
            "received": len(first_seen),
            "per_s": len(first_seen) / elapsed if elapsed > 0 else 0.0,
            "p50_ms": statistics.median(lat) * 1000,
            "p95_ms": pct(lat, 0.95) * 1000,
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
        partner.stop()
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
        print(f"fulfillment bench: {args.shipments} shipments per run (shared 2-CPU machine)")
        results = {}
        for procs in (1, 2):
            r = asyncio.run(run_fulfillment(url, procs, args.shipments, f"{prefix}{procs}"))
            results[procs] = r
            print(
                f"  {procs} worker process(es): {r['per_s']:.1f} dispatches/s, "
                f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms "
                f"(received {r['received']:.0f})"
            )
        noop = run_noop(args.shipments * 5, f"{prefix}n")
        print(f"  no-op Dramatiq actor (1 process, 8 threads): {noop:.1f} messages/s")
        print(f"  ratio dispatch(1 proc)/no-op: {results[1]['per_s'] / noop:.3f}")
    finally:
        drop_database(name)
        cleanup_redis(prefix)


if __name__ == "__main__":
    main()
