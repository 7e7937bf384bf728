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
