"""The outbox relay against PostgreSQL: several relays share the work without sending a row
twice at once (FOR UPDATE SKIP LOCKED), with a canary showing the race without the lock; a
broker outage keeps messages pending and they go out when it returns."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import select

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
    from datetime import timedelta

    assert await relay_once(runtime.sessions, up, now=later + timedelta(minutes=2)) == 3
    assert len(up.sent) == 3
