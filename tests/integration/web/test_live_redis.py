"""A fact relayed by another process (`hotline worker`: plain PUBLISH) reaches the pages an
API process holds open (Litestar's Redis pub/sub channels backend): real Redis."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio
from litestar.channels.backends.redis import RedisChannelsPubSubBackend

from core.settings import Settings
from web.live import redis_publisher, redis_publisher_many


async def test_a_worker_publish_reaches_the_api_processes_channels(settings: Settings) -> None:
    channel = f"t{uuid.uuid4().hex[:8]}:live:order:o1"
    listening = redis.asyncio.from_url(settings.redis_url)
    publishing = redis.asyncio.from_url(settings.redis_url)
    backend = RedisChannelsPubSubBackend(redis=listening)
    try:
        await backend.subscribe([channel])
        await asyncio.sleep(0.05)
        await redis_publisher(publishing)(b'{"kind": "order", "order_id": "o1"}', [channel])
        events = backend.stream_events()
        got_channel, data = await asyncio.wait_for(events.__anext__(), timeout=5)
        assert got_channel == channel and b"o1" in data
    finally:
        await backend.on_shutdown()
        await listening.aclose()
        await publishing.aclose()


async def test_a_batch_of_notices_reaches_every_channel_in_one_pipeline(
    settings: Settings,
) -> None:
    """`redis_publisher_many` (a worker relaying a burst): every notice, on each of its
    channels, as the one-by-one publisher sends them."""
    prefix = f"t{uuid.uuid4().hex[:8]}:live"
    told = [
        (
            f'{{"kind": "order", "order_id": "o{n}"}}'.encode(),
            [f"{prefix}:order:o{n}", f"{prefix}:wb"],
        )
        for n in range(3)
    ]
    listening = redis.asyncio.from_url(settings.redis_url)
    publishing = redis.asyncio.from_url(settings.redis_url)
    backend = RedisChannelsPubSubBackend(redis=listening)
    try:
        await backend.subscribe([c for _, channels in told for c in channels])
        await asyncio.sleep(0.05)
        await redis_publisher_many(publishing)(told)
        events = backend.stream_events()
        got = [await asyncio.wait_for(events.__anext__(), timeout=5) for _ in range(6)]
        expected = [(c, body) for body, channels in told for c in channels]
        assert sorted(got) == sorted(expected)
    finally:
        await backend.on_shutdown()
        await listening.aclose()
        await publishing.aclose()
