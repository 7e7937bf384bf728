"""The outbox relay dies between the broker send and the commit that marks the row sent.

A relay process (real Redis, scratch PostgreSQL) is killed by a hook right after Redis accepted
the `order.paid` message: the "sent" mark never commits, so the row is still unsent and, once
its claim lapses (core.outbox.CLAIM), the next relay sends the same message (same id) again.
Both copies then reach a real `python -m api.worker`, and the duplicate is harmless: one
shipment, one partner body.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import select

from core.outbox import CLAIM, OutboxMessage
from fulfillment import Shipment
from tests.integration.fulfillment.test_fulfillment_worker_processes import (
    ROOT,
    db,
    paid_orders,
    scratch_db,
    shipments_by_order,
    start_worker,
    stop,
    wait_all_dispatched,
    worker_env,
)
from tests.partner_server import PartnerServer

__all__ = ["db", "scratch_db"]  # module-scoped fixtures: this module gets its own database
pytestmark = pytest.mark.slow
REDIS = "redis://127.0.0.1:6379/5"

# One relay pass over `order.paid`; with CRASH=1 the process dies (no cleanup, no commit, like
# a kill -9) right after the broker accepted the first message.
RELAY = """
import asyncio, os
from datetime import timedelta
from api.worker import build_broker
from core.broker import DramatiqSender
from core.clock import SystemClock
from core.db import make_engine, make_sessionmaker
from core.outbox import relay_once
from core.settings import load_settings
from fulfillment import actors

class CrashAfterSend(DramatiqSender):
    async def send(self, message_id, topic, payload):
        await super().send(message_id, topic, payload)
        if os.environ.get("CRASH") == "1":
            os._exit(9)

async def main():
    settings = load_settings()
    sender = CrashAfterSend(build_broker(settings), {"order.paid": actors.ROUTES["order.paid"]})
    engine = make_engine(settings.database_url)
    now = SystemClock().now() + timedelta(seconds=float(os.environ.get("LATER", "0")))
    print(await relay_once(make_sessionmaker(engine), sender, now=now))
    await engine.dispose()

asyncio.run(main())
"""


def relay(
    env: dict[str, str], *, crash: bool, later: float = 0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RELAY],
        cwd=ROOT,
        env={**env, "CRASH": "1" if crash else "0", "LATER": "0" if crash else str(later)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def queued(client: redis.Redis, queue: str) -> list[str]:
    """Dramatiq message ids waiting in a Redis queue (the list holds Redis-side ids; each
    one's message, with the Dramatiq message id the relay gave it, is in `<queue>.msgs`)."""
    ids = client.lrange(queue, 0, -1)
    bodies = client.hmget(f"{queue}.msgs", ids) if ids else []
    return [json.loads(b)["message_id"] for b in bodies if b is not None]


@pytest.fixture
def partner() -> Iterator[PartnerServer]:
    server = PartnerServer(secret=uuid.uuid4().hex).start()
    yield server
    server.stop()


async def test_relay_crash_after_send_resends_and_the_duplicate_is_harmless(
    scratch_db: str, db: object, partner: PartnerServer
) -> None:
    prefix = f"ffcrash{uuid.uuid4().hex[:8]}"
    env = worker_env(scratch_db, REDIS, prefix)
    queue = f"{prefix}:dramatiq:fulfillment"
    client = redis.Redis.from_url(REDIS)
    try:
        [order_id] = await paid_orders(db, partner, 1)
        async with db() as session:  # type: ignore[operator]
            message = await session.scalar(
                select(OutboxMessage).where(
                    OutboxMessage.topic == "order.paid",
                    OutboxMessage.payload["order_id"].as_string() == order_id,
                )
            )
        assert message is not None and message.sent_at is None

        crashed = await asyncio.to_thread(relay, env, crash=True)
        assert crashed.returncode == 9, crashed.stderr
        assert queued(client, queue) == [message.id]  # Redis has it ...
        async with db() as session:  # type: ignore[operator]
            row = await session.get_one(OutboxMessage, message.id)
            assert row.sent_at is None  # ... but the relay's "sent" never committed

        claimed = await asyncio.to_thread(relay, env, crash=False)
        assert claimed.stdout.strip() == "0", claimed.stderr  # the dead relay's claim holds
        later = CLAIM.total_seconds() + 1
        again = await asyncio.to_thread(relay, env, crash=False, later=later)
        assert again.returncode == 0 and again.stdout.strip() == "1", again.stderr
        assert queued(client, queue) == [message.id] * 2  # sent twice, both under the outbox id
        async with db() as session:  # type: ignore[operator]
            assert (await session.get_one(OutboxMessage, message.id)).sent_at is not None

        worker = start_worker(env)
        try:
            final = await wait_all_dispatched(db, [order_id], timeout=30)
            for _ in range(50):  # let the worker take the second copy too
                if not client.llen(queue):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
        finally:
            stop(worker)
        assert final == {order_id: "dispatched"}
        assert client.llen(queue) == 0
        shipments = await shipments_by_order(db, [order_id])
        async with db() as session:  # type: ignore[operator]
            rows = await session.scalars(select(Shipment.id).where(Shipment.order_id == order_id))
            assert len(list(rows)) == 1  # one shipment for the order despite two order.paid jobs
        shipment_id = shipments[order_id].id
        calls = [r for r in partner.received if r.key == shipment_id]
        assert len(calls) == 1 and len(partner.bodies_by_key()[shipment_id]) == 1
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
