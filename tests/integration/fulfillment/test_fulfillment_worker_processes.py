"""Real `python -m api.worker` processes (Dramatiq threads + relay + watchdog) against Redis and
a scratch PostgreSQL database: kill -9 mid-dispatch again and again, and a Redis outage.

Orders are placed and paid through the commerce room; everything after `order.paid` is the
production path (relay -> Dramatiq -> shipment -> signed dispatch).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import commerce
from api.migrate import upgrade
from core.clock import SystemClock
from core.db import make_engine, make_sessionmaker
from core.settings import load_settings
from fulfillment import Partner, PartnerIn, Shipment, register_partner
from tests.conftest import create_database, drop_database
from tests.courier_orders import one_seat_offer, place_courier_orders
from tests.partner_server import PartnerServer

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def scratch_db() -> Iterator[str]:
    name, url = create_database("hotline_ff")
    upgrade(url)
    yield url
    drop_database(name)


def worker_env(db_url: str, redis_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_REDIS_PREFIX": prefix,
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_WORKER": "dramatiq",
        "HOTLINE_WORKER_THREADS": "4",
        "HOTLINE_DISPATCH_LEASE_SECONDS": "1.5",
        "HOTLINE_DISPATCH_WATCHDOG_SECONDS": "1",
        "HOTLINE_DISPATCH_BASE_SECONDS": "0.1",
        "HOTLINE_DISPATCH_CAP_SECONDS": "0.5",
        "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "1",  # below the lease, as Settings requires
        "HOTLINE_DRAMATIQ_HEARTBEAT_MS": "1500",
        "HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE": "1000000",
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "api.worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
async def db(scratch_db: str) -> AsyncIterator[object]:
    engine = make_engine(scratch_db)
    yield make_sessionmaker(engine)
    await engine.dispose()


async def paid_orders(sessions: object, partner_server: PartnerServer, n: int) -> list[str]:
    """n courier orders placed and paid through the commerce room (which emits `order.paid`
    in the payment's transaction); returns the order ids. The partner is registered first."""
    now = SystemClock().now()
    async with sessions() as session, session.begin():  # type: ignore[operator]
        code = f"p{abs(hash(partner_server.url)) % 10**8}"
        await session.execute(update(Partner).where(Partner.code != code).values(active=False))
        if not await session.scalar(select(Partner.id).where(Partner.code == code)):
            await register_partner(
                session,
                PartnerIn(code, "courier", "http", partner_server.url, partner_server.secret),
                currency="CNY",
                now=now,
            )
        offer = await one_seat_offer(session, n, now=now)
    ids: list[str] = []
    settings = load_settings(environ={}, env="test", secret_key=uuid.uuid4().hex * 2)
    for _ in range(n):  # one transaction an order: their order.paid are committed apart
        async with sessions() as session, session.begin():  # type: ignore[operator]
            (order_id,) = await place_courier_orders(
                session, offer.id, 1, settings=settings, now=now
            )
            await commerce.mark_paid(
                session, order_id, actor="system", channel="system", reason="test", now=now
            )
            ids.append(order_id)
    return ids


async def shipments_by_order(sessions: object, order_ids: list[str]) -> dict[str, Shipment]:
    async with sessions() as session:  # type: ignore[operator]
        rows = await session.scalars(select(Shipment).where(Shipment.order_id.in_(order_ids)))
        return {s.order_id: s for s in rows}


async def statuses(sessions: object, order_ids: list[str]) -> dict[str, str]:
    found = await shipments_by_order(sessions, order_ids)
    return {o: found[o].status if o in found else "no shipment" for o in order_ids}


async def wait_all_dispatched(sessions: object, ids: list[str], timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        current = await statuses(sessions, ids)
        if all(s == "dispatched" for s in current.values()) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.2)


async def test_kill_9_mid_dispatch_loses_nothing_and_resends_identically(
    scratch_db: str, db: object
) -> None:
    partner = PartnerServer(secret=uuid.uuid4().hex).start()
    partner.behaviour.delay_seconds = 0.3  # wide window for a kill mid-call
    prefix = f"ff{uuid.uuid4().hex[:8]}"
    env = worker_env(scratch_db, "redis://127.0.0.1:6379/5", prefix)
    try:
        ids = await paid_orders(db, partner, 16)
        rng = random.Random()
        for _ in range(3):
            procs = [start_worker(env) for _ in range(2)]
            # Kill while the partner is mid-request: wait for a new request to arrive first.
            seen = len(partner.received)
            deadline = time.monotonic() + 45  # start-up is slow on a loaded box
            while len(partner.received) == seen and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(rng.uniform(0.0, 0.25))
            for proc in procs:
                stop(proc, signal.SIGKILL)
        killed_in_flight = {r.key for r in partner.received}
        assert killed_in_flight, "workers never reached the partner before being killed"
        procs = [start_worker(env) for _ in range(2)]
        try:
            final = await wait_all_dispatched(db, ids, timeout=90)
        finally:
            for proc in procs:
                stop(proc)
        assert final == dict.fromkeys(ids, "dispatched")
        shipment_ids = [s.id for s in (await shipments_by_order(db, ids)).values()]
        assert len(shipment_ids) == len(ids)  # one shipment per paid order, never two
        bodies = partner.bodies_by_key()
        assert set(shipment_ids) <= set(bodies)
        assert all(len(bodies[i]) == 1 for i in shipment_ids), "a shipment sent with two bodies"
        assert all(r.signature_ok for r in partner.received)
    finally:
        partner.stop()
        import redis

        client = redis.Redis.from_url("redis://127.0.0.1:6379/5")
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


async def test_redis_outage_holds_jobs_in_outbox_until_it_returns(
    scratch_db: str, db: object
) -> None:
    """A private redis-server (the shared one is not ours to stop)."""
    port = free_port()
    redis_proc = start_redis(port)
    partner = PartnerServer(secret=uuid.uuid4().hex).start()
    env = worker_env(scratch_db, f"redis://127.0.0.1:{port}/0", "outage")
    worker = start_worker(env)
    try:
        before = await paid_orders(db, partner, 3)
        assert set((await wait_all_dispatched(db, before, 20)).values()) == {"dispatched"}
        stop(redis_proc, signal.SIGKILL)
        during = await paid_orders(db, partner, 5)  # paying still works: the outbox holds jobs
        await asyncio.sleep(2)
        assert set((await statuses(db, during)).values()) <= {"pending", "no shipment"}
        from core.outbox import OutboxMessage

        async with db() as session:  # type: ignore[operator]
            held = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None))
            )
        assert held >= 5
        redis_proc = start_redis(port)
        assert set((await wait_all_dispatched(db, during, 30)).values()) == {"dispatched"}
    finally:
        stop(worker)
        stop(redis_proc)
        partner.stop()
