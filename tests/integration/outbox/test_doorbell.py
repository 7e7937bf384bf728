"""The outbox doorbell (core.doorbell): a commit that emitted a message due now, in a process
with a ringer (an API process), rings the relays listening in other processes (the workers')
over Redis; a worker that hears it wakes its own relays (wake_local_relays) and rings no one."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

from core import doorbell
from core.outbox import add_ringer, emit, remove_ringer, wake_local_relays
from core.runtime import Runtime

TOPIC = "test.doorbell"


async def test_a_commit_that_emitted_rings_the_relays_listening_elsewhere(
    runtime: Runtime,
) -> None:
    assert runtime.redis is not None
    ring = doorbell.channel(f"t{uuid.uuid4().hex[:8]}")
    heard = asyncio.Event()
    listening = asyncio.create_task(doorbell.listen(runtime.redis, ring, heard.set))
    bell = doorbell.Doorbell(runtime.redis, ring)
    rung: list[int] = []

    def count() -> None:
        rung.append(1)

    add_ringer(bell.ring)
    add_ringer(count)
    try:
        for _ in range(100):  # subscribed: a PUBLISH from now on reaches it
            if (await runtime.redis.pubsub_numsub(ring))[0][1] == 1:
                break
            await asyncio.sleep(0.02)
        wake_local_relays()  # what a worker does when it hears a ring: no ringer runs
        assert rung == [] and not heard.is_set()
        async with runtime.sessions() as session, session.begin():
            emit(session, TOPIC, {"n": 1}, now=runtime.clock.now())
        assert rung == [1]
        await asyncio.wait_for(heard.wait(), timeout=5)
    finally:
        remove_ringer(bell.ring)
        remove_ringer(count)
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


async def test_a_ring_with_redis_down_is_lost_quietly_and_the_commit_stands(
    runtime: Runtime,
) -> None:
    """Redis stopped: the commit is not failed by its ring (the relays' poll finds the
    message), and a listener keeps retrying instead of dying."""
    import redis.asyncio as aioredis

    from tests.stripe_fixtures import free_port

    down = aioredis.Redis(port=free_port(), socket_connect_timeout=0.2)
    bell = doorbell.Doorbell(down, "nobody:outbox:ring")
    add_ringer(bell.ring)
    try:
        for n in range(20):
            async with runtime.sessions() as session, session.begin():
                emit(session, TOPIC, {"n": n}, now=runtime.clock.now())
            assert len(bell._tasks) <= 1  # one PUBLISH at a time, not one per commit
        listening = asyncio.create_task(doorbell.listen(down, "nobody:outbox:ring", lambda: None))
        await asyncio.sleep(0.5)
        assert not listening.done()  # deaf for now, retrying
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        for task in list(bell._tasks):
            task.cancel()
    finally:
        remove_ringer(bell.ring)
        await down.aclose()


async def test_rings_during_a_publish_cost_one_more_publish(runtime: Runtime) -> None:
    assert runtime.redis is not None
    ring = doorbell.channel(f"t{uuid.uuid4().hex[:8]}")
    heard: list[int] = []
    listening = asyncio.create_task(doorbell.listen(runtime.redis, ring, lambda: heard.append(1)))
    try:
        for _ in range(100):
            if (await runtime.redis.pubsub_numsub(ring))[0][1] == 1:
                break
            await asyncio.sleep(0.02)
        bell = doorbell.Doorbell(runtime.redis, ring)
        bell.ring()
        while bell._rung:  # until the first PUBLISH is on its way
            await asyncio.sleep(0)
        for _ in range(5):
            bell.ring()
        for _ in range(100):
            if len(heard) >= 2 and not bell._tasks:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        assert heard == [1, 1]  # not lost, not one per ring
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
