"""The relay wakes when a commit in this process emitted a message due now (core.outbox),
instead of waiting for its next poll; a rollback, or a message due later, wakes nothing.
The woken relay sends the same rows the poll would (the plain path: tick only)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from api import outbox_jobs, periodic
from core.outbox import emit, forget_wakeup, relay_wakeup
from core.runtime import Runtime

TOPIC = "test.wakeup"


async def test_a_commit_that_emitted_wakes_a_rollback_does_not(runtime: Runtime) -> None:
    wakeup = relay_wakeup()
    try:
        now = runtime.clock.now()
        async with runtime.sessions() as session, session.begin():
            emit(session, TOPIC, {"n": 1}, now=now, available_at=now + timedelta(hours=1))
        assert not wakeup.is_set()  # due later: the poll finds it then
        try:
            async with runtime.sessions() as session, session.begin():
                emit(session, TOPIC, {"n": 2}, now=now)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        async with runtime.sessions() as session, session.begin():
            await session.flush()  # a commit without an emit
        assert not wakeup.is_set()
        async with runtime.sessions() as session, session.begin():
            emit(session, TOPIC, {"n": 3}, now=now)
        assert wakeup.is_set()
    finally:
        forget_wakeup(wakeup)


class _Sender:
    topics = frozenset({"test.relayed"})

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.sent.append(payload)


async def _relayed_after_commit(runtime: Runtime, *, woken: bool, tick: float) -> _Sender:
    sender = _Sender()
    services: Any = SimpleNamespace(outbox_sender=sender, runtime=runtime)
    job = periodic.PeriodicJob("outbox.relay", tick, outbox_jobs.relay_job, woken)
    stop = asyncio.Event()
    task = asyncio.create_task(periodic._loop(services, job, stop))
    try:
        await asyncio.sleep(0.2)  # the first tick ran and found nothing: now it pauses
        async with runtime.sessions() as session, session.begin():
            emit(session, "test.relayed", {"woken": woken}, now=runtime.clock.now())
        for _ in range(100):
            if sender.sent:
                break
            await asyncio.sleep(0.02)
        return sender
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=5)  # stopping ends the pause at once


async def test_the_woken_relay_sends_at_once_the_plain_one_at_its_tick(runtime: Runtime) -> None:
    # a 30 s tick: only the wake-up can send the message within the 2 s the helper waits
    woken = await _relayed_after_commit(runtime, woken=True, tick=30.0)
    assert woken.sent == [{"woken": True}]
    # the plain path (no wake-up) sends the same row at its next tick
    plain = await _relayed_after_commit(runtime, woken=False, tick=0.3)
    assert plain.sent == [{"woken": False}]
