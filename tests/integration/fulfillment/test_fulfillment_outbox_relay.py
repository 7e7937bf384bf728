"""The outbox relay against PostgreSQL: several relays share the work without sending a row
twice at once (FOR UPDATE SKIP LOCKED at the claim), with a canary showing the race without
the lock; no row lock is held while a job runs; a broker outage keeps messages pending and
they go out when it returns; sent messages are purged after the retention."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text

from api.composition import build_services
from api.outbox_jobs import purge_outbox_job
from core.outbox import OutboxMessage, emit, relay_once
from core.runtime import Runtime


class SlowSender:
    def __init__(self, topic: str, *, fail: bool = False) -> None:
        self.topic = topic
        self.fail = fail
        self.sent: Counter[str] = Counter()

    @property
    def topics(self) -> frozenset[str]:
        return frozenset({self.topic})

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("redis down")
        await asyncio.sleep(0.01)
        self.sent[message_id] += 1


async def _emit_many(runtime: Runtime, topic: str, n: int) -> None:
    async with runtime.sessions() as session, session.begin():
        for i in range(n):
            emit(session, topic, {"i": i}, now=runtime.clock.now())


async def _race(runtime: Runtime, lock_rows: bool) -> SlowSender:
    topic = f"t.{uuid.uuid4().hex[:12]}"
    await _emit_many(runtime, topic, 30)
    sender = SlowSender(topic)
    await asyncio.gather(
        *(
            relay_once(runtime.sessions, sender, now=runtime.clock.now(), lock_rows=lock_rows)
            for _ in range(3)
        )
    )
    return sender


async def test_concurrent_relays_send_each_message_once(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    sender = await _race(runtime, lock_rows=True)
    assert len(sender.sent) == 30
    assert set(sender.sent.values()) == {1}


async def test_canary_relays_without_row_locks_send_duplicates(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    sender = await _race(runtime, lock_rows=False)
    assert max(sender.sent.values()) > 1


async def test_broker_outage_keeps_messages_until_it_returns(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    topic = f"t.{uuid.uuid4().hex[:12]}"
    await _emit_many(runtime, topic, 3)
    down = SlowSender(topic, fail=True)
    assert await relay_once(runtime.sessions, down, now=runtime.clock.now()) == 0
    async with runtime.sessions() as session:
        rows = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic))
        )
    assert all(r.sent_at is None for r in rows)
    assert any(r.attempts == 1 and "redis down" in (r.last_error or "") for r in rows)
    up = SlowSender(topic)
    later = runtime.clock.now().replace(microsecond=0)
    assert await relay_once(runtime.sessions, up, now=later + timedelta(minutes=2)) == 3
    assert len(up.sent) == 3


class BlockingSender:
    """A job that is still running (say, a partner call) until the test lets it finish."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.sent: list[str] = []

    @property
    def topics(self) -> frozenset[str]:
        return frozenset({self.topic})

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.started.set()
        await self.release.wait()
        self.sent.append(message_id)


async def test_relay_holds_no_row_lock_while_a_job_runs(jobs_runtime: Runtime) -> None:
    runtime = jobs_runtime
    topic = f"t.{uuid.uuid4().hex[:12]}"
    await _emit_many(runtime, topic, 1)
    sender = BlockingSender(topic)
    relay = asyncio.create_task(relay_once(runtime.sessions, sender, now=runtime.clock.now()))
    try:
        await asyncio.wait_for(sender.started.wait(), 10)
        async with runtime.sessions() as session, session.begin():
            # NOWAIT fails at once if any transaction holds the row: none does.
            row = await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.topic == topic)
                .with_for_update(nowait=True)
            )
            assert row is not None and row.sent_at is None
            locks = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
                    " WHERE l.relation = 'outbox_messages'::regclass AND a.pid <> pg_backend_pid()"
                )
            )
            assert locks == 0
        # Another relay meanwhile does not send the claimed row a second time.
        other = SlowSender(topic)
        assert await relay_once(runtime.sessions, other, now=runtime.clock.now()) == 0
    finally:
        sender.release.set()
    assert await asyncio.wait_for(relay, 10) == 1
    async with runtime.sessions() as session:
        row = await session.scalar(select(OutboxMessage).where(OutboxMessage.topic == topic))
    assert row is not None and row.sent_at is not None and sender.sent == [row.id]


async def test_purge_deletes_sent_messages_after_the_retention_only(
    jobs_runtime: Runtime,
) -> None:
    runtime = jobs_runtime
    topic = f"t.{uuid.uuid4().hex[:12]}"
    await _emit_many(runtime, topic, 3)
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        rows = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
            )
        )
        rows[0].sent_at = now - timedelta(hours=200)  # sent long ago: goes
        rows[1].sent_at = now - timedelta(hours=100)  # sent within the retention: stays
        rows[2].created_at = now - timedelta(hours=300)  # old but never sent: stays
    runtime_hours = timedelta(hours=runtime.settings.outbox_retention_hours)
    assert runtime_hours == timedelta(hours=168)
    assert await purge_outbox_job(build_services(runtime)) >= 1
    async with runtime.sessions() as session:
        left = set(
            await session.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == topic))
        )
    assert left == {rows[1].id, rows[2].id}
