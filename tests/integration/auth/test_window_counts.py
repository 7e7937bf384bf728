"""The per-address window counts (auth/window_counts.py) on real Redis against the plain path
(one INCR a hit): concurrent hits from several processes' counters get exactly the counts
1..n between them, the key keeps its TTL, and the limit refuses exactly the hits beyond it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from auth.throttle import Throttle
from auth.window_counts import WindowCounts
from core.errors import Throttled

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)


@pytest.fixture
async def clients() -> AsyncIterator[list[aioredis.Redis]]:
    """Three clients, as three API processes would each have their own."""
    made = [aioredis.from_url("redis://127.0.0.1:6379/0") for _ in range(3)]
    yield made
    for c in made:
        await c.aclose()


async def test_coalesced_hits_get_the_counts_single_incrs_give(
    clients: list[aioredis.Redis],
) -> None:
    key, other = f"wc:{uuid.uuid4().hex}", f"wc:{uuid.uuid4().hex}"
    plain = [int(await clients[0].incr(f"{key}:plain")) for _ in range(90)]  # the plain path
    counters = [WindowCounts(c) for c in clients]
    got = await asyncio.gather(
        *(counters[i % 3].hit(key if i % 4 else other, 120) for i in range(120))
    )
    on_key = sorted(n for i, n in enumerate(got) if i % 4)
    on_other = sorted(n for i, n in enumerate(got) if not i % 4)
    assert on_key == plain == list(range(1, 91))  # no count lost, none given twice
    assert on_other == list(range(1, 31))
    assert int(await clients[0].get(key)) == 90
    assert 0 < await clients[0].ttl(key) <= 120 and 0 < await clients[0].ttl(other) <= 120
    await clients[0].delete(key, other, f"{key}:plain")


async def test_limit_refuses_exactly_the_hits_beyond_it_across_processes(
    clients: list[aioredis.Redis],
) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    gates = [
        Throttle(c, prefix, delay_after=3, max_failures=6, ip_limit_per_minute=25) for c in clients
    ]

    async def hit(i: int) -> bool:
        try:
            await gates[i % 3].hit_address("10.9.9.9", NOW)
            return True
        except Throttled:
            return False

    passed = await asyncio.gather(*(hit(i) for i in range(60)))
    assert sum(passed) == 25
