"""Redis restarts without its data after the relay handed it `order.paid` jobs (and marked
them sent): the paid orders still ship, picked up again by the worker's recovery scan after
HOTLINE_DISPATCH_REDELIVER_SECONDS (45 s by default, so within about a minute; shortened here).

The test runs a Redis of its own on a free port and stops it; the shared one is not touched.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from api.outbox_jobs import redelivery_scan_seconds
from api.worker import build_broker
from core.broker import DramatiqSender
from core.clock import SystemClock
from core.outbox import relay_once
from core.settings import load_settings
from fulfillment import RetryPolicy
from fulfillment import actors as fulfillment_actors
from tests.integration.fulfillment.test_fulfillment_worker_processes import (
    ROOT,
    db,
    paid_orders,
    scratch_db,
    shipments_by_order,
    stop,
    wait_all_dispatched,
    worker_env,
)
from tests.partner_server import PartnerServer
from tests.stripe_fixtures import free_port

__all__ = ["db", "scratch_db"]  # module-scoped fixtures: this module gets its own database
pytestmark = pytest.mark.slow
REDELIVER_SECONDS = 3


class PrivateRedis:
    """redis-server with nothing saved to disk, so a restart comes back empty."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


async def test_paid_orders_ship_after_redis_restarts_empty(
    scratch_db: str, db: object, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    partner = PartnerServer(secret=uuid.uuid4().hex).start()
    prefix = f"ffrestart{uuid.uuid4().hex[:8]}"
    env = {
        **worker_env(scratch_db, private_redis.url, prefix),
        "HOTLINE_DISPATCH_REDELIVER_SECONDS": str(REDELIVER_SECONDS),
    }
    queue = f"{prefix}:dramatiq:fulfillment"
    client = redis.Redis.from_url(private_redis.url)
    try:
        ids = await paid_orders(db, partner, 4)
        # The relay hands the jobs to Redis and marks them sent; no worker has taken them yet.
        settings = load_settings(
            environ={}, env="test", redis_url=private_redis.url, redis_prefix=prefix
        )
        broker = build_broker(settings)
        order_paid = fulfillment_actors.ROUTES["order.paid"]
        sender = DramatiqSender(broker, {"order.paid": order_paid})
        assert await relay_once(db, sender, now=SystemClock().now()) == len(ids)  # type: ignore[arg-type]
        broker.close()
        assert client.llen(queue) == len(ids)

        private_redis.stop()  # Redis goes away with every queued job ...
        private_redis.start()  # ... and comes back empty
        assert client.llen(queue) == 0

        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "api.worker"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            # Timed from the worker being up (its start-up is slow on a loaded machine): the
            # jobs were lost long enough ago, so its first sweep sends them again.
            deadline = time.monotonic() + 60
            while b"worker started" not in log.read_bytes() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            started = time.monotonic()
            final = await wait_all_dispatched(db, ids, timeout=45)
            took = time.monotonic() - started
        finally:
            stop(worker)
        print(f"all {len(ids)} lost jobs shipped {took:.1f}s after the worker was up")
        assert final == dict.fromkeys(ids, "dispatched")
        assert len(await shipments_by_order(db, ids)) == len(ids)
        assert log.read_bytes().count(b"order.paid redelivered") == len(ids)
        assert took < 15, took  # one sweep tick (5 s) and the jobs themselves
    finally:
        partner.stop()


def test_the_default_redelivery_is_within_about_a_minute() -> None:
    policy = RetryPolicy()
    assert policy.redeliver_seconds + redelivery_scan_seconds(policy) + 5 <= 65
