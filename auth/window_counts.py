"""Per-address window counts in Redis, with the hits that arrive together sent together.

The per-address limit (auth.throttle.Throttle.hit_address) counts every credential request,
and bench/auth.py puts it on a trivial GET: one INCR through redis-py per request cost 22% of
that GET, nearly all of it redis-py's own per-command work in this process (building the
command, borrowing a pooled connection, parsing the reply), not Redis. So hits are coalesced,
the way a database groups commits: the first hit sends at once (a lone request waits no
longer than before); hits that arrive while a call is in flight wait for it and then go
together, as one INCRBY per address (a pipeline when several addresses wait). A hit gets the
count it would have got alone: a batch of k hits on a key that INCRBY takes to n gets n-k+1 ..
n, in arrival order.

Correct across API processes: the count still lives only in Redis and INCRBY is atomic, so
every process's hits add up in the same window key exactly as single INCRs did; only this
process's concurrent INCRs are merged into one. Nothing is counted locally, so no process can
let through more than the limit, and a refusal needs no agreement beyond Redis.

Errors reach every hit of the batch (the caller falls back to memory, as for any Redis
error). A hit whose request was cancelled while waiting was still counted, as an INCR
already sent would have been.
"""

from __future__ import annotations

import asyncio
from typing import Any


class WindowCounts:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._waiting: dict[str, list[asyncio.Future[int]]] = {}
        self._ttls: dict[str, int] = {}
        self._sender: asyncio.Task[None] | None = None

    async def hit(self, key: str, ttl: int) -> int:
        """Add one to `key` (its TTL set when the window's first hit lands); the new count."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiting.setdefault(key, []).append(waiter)
        self._ttls[key] = ttl
        sender = self._sender
        # One sender per process at a time; a finished one, or one left on a closed loop (a
        # test's), is replaced.
        if sender is None or sender.done() or sender.get_loop() is not loop:
            self._sender = loop.create_task(self._send())
        return await waiter

    async def _send(self) -> None:
        # One turn of the loop first: the requests that arrived together are all handled in
        # this turn, and their hits join this first batch instead of waiting for the next.
        await asyncio.sleep(0)
        while self._waiting:
            batch, self._waiting = self._waiting, {}
            ttls, self._ttls = self._ttls, {}
            try:
                counts = await self._incr(batch, ttls)
            except BaseException as exc:  # every waiter learns it (a REDIS_DOWN falls back)
                for waiters in batch.values():
                    for w in waiters:
                        if not w.done():
                            w.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for key, waiters in batch.items():
                first = counts[key] - len(waiters) + 1
                for i, w in enumerate(waiters):
                    if not w.done():
                        w.set_result(first + i)

    async def _incr(
        self, batch: dict[str, list[asyncio.Future[int]]], ttls: dict[str, int]
    ) -> dict[str, int]:
        if len(batch) == 1:
            ((key, waiters),) = batch.items()
            counts = {key: int(await self._redis.incrby(key, len(waiters)))}
        else:
            pipe = self._redis.pipeline(transaction=False)
            for key, waiters in batch.items():
                pipe.incrby(key, len(waiters))
            replies = await pipe.execute()
            counts = {key: int(n) for key, n in zip(batch, replies, strict=True)}
        # The window's first hits start its TTL (a crash in between leaves a dead window key
        # behind, never a wrong count).
        for key, n in counts.items():
            if n == len(batch[key]):
                await self._redis.expire(key, ttls[key])
        return counts
