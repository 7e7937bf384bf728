"""Fulfillment throughput from paid orders: orders placed and then paid through the commerce
room (`commerce.mark_paid` emits `order.paid` in the outbox, as a real payment does) -> real
`python -m api.worker` processes (relay + Dramatiq over Redis + the order.paid job + dispatch)
-> a local signed partner. Paid-to-partner-received dispatches/s and p50/p95 latency with 1 and
2 worker processes, then the latency of lone orders paid one at a time on the same workers,
and in the same run a no-op Dramatiq actor's throughput on the same Redis, with the ratio.

    .venv/bin/python bench/fulfillment.py --shipments 200

The orders of a burst are placed first (not measured) and paid together in one transaction,
so the whole burst of `order.paid` is committed at one instant; latency runs from that instant
to the partner's first receipt of each shipment. A burst of 200 lasts a few hundred
milliseconds, so one burst's rate moves by a third from run to run on a shared machine: each
worker count runs `--bursts` of them, a second apart, and the median burst's rate counts.
Prints figures, asserts nothing about time.
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
from bench.proc_cpu import cpu_split  # noqa: E402
from core.broker import make_broker  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.doorbell import Doorbell  # noqa: E402
from core.doorbell import channel as doorbell_channel  # noqa: E402
from core.outbox import BATCH_MIN, add_ringer, remove_ringer  # noqa: E402
from core.settings import load_settings  # noqa: E402
from fulfillment import Partner, PartnerIn, Shipment, register_partner  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402
from tests.courier_orders import one_seat_offer, place_courier_orders  # noqa: E402
from tests.partner_server import PartnerServer  # noqa: E402

REDIS = "redis://127.0.0.1:6379/5"
LONE = 10  # lone orders per run, paid one at a time after the burst
# Warm-up bursts, each of more orders than outbox.BATCH_MIN so it takes the batch path; which
# worker's relay claims each is chance, and ten make one left out unlikely (2 in 1,024).
WARM_ROUNDS, WARM_BATCH = 10, BATCH_MIN + 2


def cpu_now(dbname: str) -> dict[str, float]:
    """CPU seconds so far (Linux /proc) of the worker processes this bench started, the
    PostgreSQL backends of its database and this process (the partner server, the bench's
    polling): per shipment, a steadier figure than the rate on a shared machine."""
    worker, database, bench = cpu_split(b"api.worker", dbname)
    return {"worker": worker, "database": database, "bench": bench}


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


async def run_fulfillment(
    db_url: str, processes: int, n: int, bursts: int, prefix: str
) -> dict[str, Any]:
    database = db_url.rsplit("/", 1)[1]
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

    warm = await place_orders(sessions, WARM_ROUNDS * WARM_BATCH)
    orders = [await place_orders(sessions, n) for _ in range(bursts)]
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
        # Wait until every process is up and has run the burst path once: a worker runs for
        # days, so its first burst's statement compiling is not what a burst costs.
        for start in range(0, len(warm), WARM_BATCH):
            await pay(sessions, warm[start : start + WARM_BATCH])
            await wait_received(warm[start : start + WARM_BATCH], 120)
        rates: list[float] = []
        lat: list[float] = []
        cpu: dict[str, list[float]] = {}
        for burst in orders:
            await asyncio.sleep(1.0)
            paid_at = await pay(sessions, burst)
            # From the commit on (the bench's own paying is not the jobs'): the workers' first
            # milliseconds may fall before it, well inside /proc's 10 ms ticks.
            before = cpu_now(database)
            shipments = await wait_received(burst, 300)
            after = cpu_now(database)
            for part in before:
                cpu.setdefault(part, []).append((after[part] - before[part]) / n * 1000)
            first_seen: dict[str, float] = {}
            for r in list(partner.received):
                if r.key not in first_seen:
                    first_seen[r.key] = r.wall
            took = [first_seen[s] - paid_at for s in shipments.values() if s in first_seen]
            lat.extend(took)
            rates.append(len(took) / max(took) if took else 0.0)
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
            "rates": rates,
            "per_s": statistics.median(rates),
            "p50_ms": statistics.median(lat) * 1000 if lat else float("nan"),
            "p95_ms": pct(lat, 0.95) * 1000 if lat else float("nan"),
            "lone_p50_ms": statistics.median(alone) * 1000 if alone else float("nan"),
            "lone_max_ms": max(alone) * 1000 if alone else float("nan"),
            **{f"cpu_{part}": statistics.median(ms) for part, ms in cpu.items()},
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
    parser.add_argument(
        "--bursts", type=int, default=5, help="bursts per worker count; the median rate counts"
    )
    args = parser.parse_args()
    name, url = create_database("hotline_bench_ff")
    prefix = f"bf{uuid.uuid4().hex[:8]}"
    try:
        upgrade(url)
        print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
        print(
            f"fulfillment bench: bursts of {args.shipments} paid orders, {args.bursts} per worker"
            f" count, paid-to-partner-received (shared {os.cpu_count()}-CPU machine)"
        )
        results = {}
        for procs in (1, 2):
            r = asyncio.run(
                run_fulfillment(url, procs, args.shipments, args.bursts, f"{prefix}{procs}")
            )
            results[procs] = r
            print(
                f"  {procs} worker process(es): {r['per_s']:.1f} dispatches/s (median burst;"
                f" bursts {', '.join(f'{x:.0f}' for x in r['rates'])}), "
                f"p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms of all "
                f"(received {r['received']:.0f}); lone order p50 {r['lone_p50_ms']:.0f} ms,"
                f" max {r['lone_max_ms']:.0f} ms ({LONE} orders)"
            )
            print(
                f"    CPU per shipment: workers {r['cpu_worker']:.2f} ms, PostgreSQL"
                f" {r['cpu_database']:.2f} ms, partner and bench {r['cpu_bench']:.2f} ms"
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
