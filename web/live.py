"""Live pages: outbox facts fanned out over Litestar channels, read by the pages over SSE.

The outbox relay hands every due message to the process's sender; `LiveTap` wraps that
sender and, once the message is handled, publishes a small notice on the channels it
concerns (the order's, each notified agent's, the wallboard's). With Redis configured the
channels are Redis pub/sub, so a page held open by one API process hears a fact relayed by
another process or by `hotline worker` (`redis_publisher`); otherwise they live in memory.
A notice carries ids only: the SSE stream renders what is true *now* from the database, so a
missed or repeated notice can never show a stale state.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import timedelta
from typing import Any

import structlog
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from redis.exceptions import RedisError

import commerce
import payments
import ticketing
from core.outbox import CLAIM, Sender
from core.runtime import REDIS_TIMEOUT_SECONDS
from core.settings import Settings

log = structlog.get_logger("hotline.web.live")
Publish = Callable[[bytes, list[str]], Awaitable[None]]
# Many notices at once: (body, channels) each (a relay's batch: a burst of paid orders).
PublishMany = Callable[[list[tuple[bytes, list[str]]]], Awaitable[None]]


def order_channel(settings: Settings, order_id: str) -> str:
    return f"{settings.redis_prefix}:live:order:{order_id}"


def agent_channel(settings: Settings, agent_id: str) -> str:
    return f"{settings.redis_prefix}:live:agent:{agent_id}"


def wallboard_channel(settings: Settings) -> str:
    return f"{settings.redis_prefix}:live:wallboard"


class _OutageProofBackend(RedisChannelsPubSubBackend):
    """Litestar's Redis pub/sub backend, but an unreachable Redis costs notices, not the
    plugin's tasks. Litestar's publishing task dies on the first PUBLISH that raises: every
    later notice waits in its queue, live updates stop in this process for good, and shutdown
    joins that queue forever (a server that heard SIGTERM had to be killed). A lost notice
    only delays a page until its next render (the stream renders from the database)."""

    pause = 1.0  # after a failure, notices are dropped at once for this long: no connect each
    _down_until = 0.0

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        if time.monotonic() < self._down_until:
            return
        try:
            await super().publish(data, channels)
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + self.pause
            log.warning("live notice lost: Redis unreachable", error=type(exc).__name__)

    async def stream_events(self) -> AsyncGenerator[tuple[str, Any], None]:
        while True:  # the listening task outlives an outage; redis-py subscribes again
            try:
                async for event in super().stream_events():
                    yield event
            except (RedisError, OSError) as exc:
                log.warning("live notices not heard: Redis unreachable", error=type(exc).__name__)
                await asyncio.sleep(self.pause)

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        await self._redis.aclose()


def channels_plugin(settings: Settings) -> ChannelsPlugin:
    if settings.redis_url:
        import redis.asyncio as aioredis

        # bounded waits, as the runtime's client: a Redis that does not answer must not hold
        # a notice (and the shutdown that waits for the notices) for the OS's connect timeout
        client = aioredis.from_url(
            settings.redis_url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        backend: Any = _OutageProofBackend(redis=client, stream_sleep_no_subscriptions=100)
    else:
        backend = MemoryChannelsBackend()
    return ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)


def notices(settings: Settings, topic: str, payload: dict[str, Any]) -> dict[str, list[str]]:
    """Which channels hear of an outbox fact, and the notice body (json) for each."""
    out: dict[str, list[str]] = {}
    order_id = payload.get("order_id")
    if topic in (commerce.TOPIC_ORDER_PAID, commerce.TOPIC_ORDER_CANCELLED) and order_id:
        out[json.dumps({"kind": "order", "order_id": order_id})] = [
            order_channel(settings, str(order_id)),
            wallboard_channel(settings),
        ]
    elif topic == payments.TOPIC_PAYMENT_INCIDENT and order_id:
        out[json.dumps({"kind": "order", "order_id": order_id})] = [
            order_channel(settings, str(order_id))
        ]
    elif topic == ticketing.TOPIC_TICKET_ESCALATED:
        body = {
            "kind": "escalation",
            "ticket_id": payload.get("ticket_id"),
            "level": payload.get("level"),
            "clock": payload.get("clock"),
            "notify": [str(a) for a in payload.get("notify") or []],
        }
        agents = [agent_channel(settings, str(a)) for a in payload.get("notify") or []]
        out[json.dumps(body)] = [*agents, wallboard_channel(settings)]
    return out


def call_notice(settings: Settings, call_sid: str, step: str) -> tuple[bytes, list[str]]:
    """A call joined, left or was taken from a skill queue: the wallboard re-reads its
    figures. Calls' steps are single statements, not outbox facts, so whoever committed the
    step tells the pages directly (`tell_call`). The step is in the body because the stream
    drops a notice identical to the one before it (one notice heard on two channels)."""
    return json.dumps({"kind": "call", "call_sid": call_sid, "step": step}).encode(), [
        wallboard_channel(settings)
    ]


async def tell_call(publish: Publish, settings: Settings, call_sid: str, step: str) -> None:
    """After the commit of a call's step; a lost notice only delays the wallboard until its
    next render (it polls every 30 s), so it never fails the step."""
    body, channels = call_notice(settings, call_sid, step)
    try:
        await publish(body, channels)
    except Exception as exc:
        log.warning("live notice lost", topic="call", error=type(exc).__name__)


class LiveTap:
    """A Sender that tells the pages, then sends. The fact is committed before the relay
    sees it, so telling first is never early, and the page does not wait for the consumer
    (an `order.paid` job dispatches a courier over HTTP). A failure to tell never fails the
    send."""

    def __init__(
        self,
        inner: Sender,
        settings: Settings,
        publish: Publish,
        publish_many: PublishMany | None = None,
    ) -> None:
        self.inner, self.settings, self.publish = inner, settings, publish
        self.publish_many = publish_many

    @property
    def topics(self) -> frozenset[str]:
        return self.inner.topics

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        await self._tell(topic, [payload])
        await self.inner.send(message_id, topic, payload)

    @property
    def batch_topics(self) -> frozenset[str]:
        return frozenset(getattr(self.inner, "batch_topics", frozenset()))

    @property
    def claim(self) -> timedelta:
        claim: timedelta = getattr(self.inner, "claim", CLAIM)
        return claim

    async def send_many(self, topic: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        await self._tell(topic, [payload for _, payload in messages])
        await self.inner.send_many(topic, messages)  # type: ignore[attr-defined]

    async def _tell(self, topic: str, payloads: list[dict[str, Any]]) -> None:
        told = [
            (body.encode(), channels)
            for payload in payloads
            for body, channels in notices(self.settings, topic, payload).items()
        ]
        if self.publish_many is not None and len(told) > 1:
            # One round trip: 200 PUBLISHes awaited one by one held a 100-order batch back
            # ~40 ms on a busy worker (bench/fulfillment.py).
            try:
                await self.publish_many(told)
            except Exception as exc:
                log.warning("live notices lost", topic=topic, error=type(exc).__name__)
            return
        for body, channels in told:
            try:
                await self.publish(body, channels)
            except Exception as exc:  # the page falls back to its next render
                log.warning("live notice lost", topic=topic, error=type(exc).__name__)


def plugin_publisher(plugin: ChannelsPlugin) -> Publish:
    async def publish(data: bytes, channels: list[str]) -> None:
        plugin.publish(data, channels)

    return publish


def redis_publisher(redis: Any) -> Publish:
    """For processes without the channels plugin (`hotline worker`): plain PUBLISH, which is
    what Litestar's Redis pub/sub backend listens to."""

    async def publish(data: bytes, channels: Iterable[str]) -> None:
        for channel in set(channels):
            await redis.publish(channel, data)

    return publish


def redis_publisher_many(redis: Any) -> PublishMany:
    """`redis_publisher` for many notices, pipelined (no transaction: they are independent)."""

    async def publish_many(told: list[tuple[bytes, list[str]]]) -> None:
        async with redis.pipeline(transaction=False) as pipe:
            for data, channels in told:
                for channel in set(channels):
                    pipe.publish(channel, data)
            await pipe.execute()

    return publish_many
