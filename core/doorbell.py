"""The outbox doorbell: an API process that committed an outbox message due now rings the
worker processes' relays over Redis pub/sub, so they claim it at once instead of at their
next poll (every 0.1 s: ~50 ms of every paid-to-partner latency, bench/fulfillment.py).

The poll stays and stays correct: a ring that is lost (Redis restarting, a worker
reconnecting) only leaves the message to the next tick. Rings are coalesced: the commits of
one event-loop turn cost one PUBLISH. A worker that hears a ring wakes only its own relays
(core.outbox.wake_local_relays), it does not ring on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("hotline.outbox")


def channel(redis_prefix: str) -> str:
    return f"{redis_prefix}:outbox:ring"


class Doorbell:
    """Rings `channel` on the loop it was made in; `ring()` may be called from any thread.

    At most one PUBLISH is in flight: rings that come meanwhile cost one more after it. With
    Redis down, each attempt fails and the next waits `pause` seconds, so a busy API process
    does not pile up a task and a connection attempt per commit (the relays poll anyway)."""

    pause = 1.0

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis, self.channel = redis, channel
        self._loop = asyncio.get_running_loop()
        self._rung = False  # a ring not yet published
        self._running = False  # a publishing task is on its way
        self._tasks: set[asyncio.Task[None]] = set()

    def ring(self) -> None:
        if self._rung:  # a PUBLISH is already due for this ring's commits
            return
        self._rung = True
        if self._running:
            return
        self._running = True
        try:
            self._loop.call_soon_threadsafe(self._start)
        except RuntimeError:  # the loop is closed: nobody to ring for
            self._running = self._rung = False

    def _start(self) -> None:
        task = asyncio.ensure_future(self._publish())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self) -> None:
        # A ring from another thread between the last check and the end is left to the
        # relays' poll: only a ring's latency is lost, never a message.
        try:
            while self._rung:
                self._rung = False  # a commit from here on rings again
                try:
                    await self.redis.publish(self.channel, b"1")
                except Exception as exc:  # the relays' poll finds the message anyway
                    log.warning("outbox doorbell lost", error=type(exc).__name__)
                    await asyncio.sleep(self.pause)
        finally:
            self._running = False


async def listen(redis: Any, channel: str, on_ring: Callable[[], None]) -> None:
    """Call `on_ring` for every ring until cancelled; a dropped connection is reopened after a
    second (meanwhile the relays poll)."""
    while True:
        try:
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        on_ring()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox doorbell deaf; relays poll", error=type(exc).__name__)
            await asyncio.sleep(1.0)
