"""Dramatiq broker configuration and the two ways an outbox message reaches its job.

- `DramatiqSender`: production and tests with Redis. The relay enqueues a Dramatiq message
  named by a route (topic -> queue, actor), so core never imports the rooms' actors.
- `InProcessSender`: embedded defaults (no Redis). The relay awaits the job's handler directly
  in the API process; the same idempotent service code runs either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO
from prometheus_client import Counter

from core.db import new_id
from core.settings import Settings

T = TypeVar("T")

# Every room's background jobs, by job and outcome (served on /metrics and the worker's port).
JOBS = Counter("hotline_jobs_total", "Background jobs run", ["job", "outcome"])


class WorkerLocal(Generic[T]):
    """What a worker process's actors share (a runtime, a job context), built on first use
    inside the actors' event loop: database engines belong to the loop that made them, so it
    cannot be built when the worker starts. The worker entrypoint calls `configure`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._factory: Callable[[], T] | None = None
        self._value: T | None = None

    def configure(self, factory: Callable[[], T]) -> None:
        self._factory, self._value = factory, None

    def built(self) -> T | None:
        """The value if an actor has built it (a worker closes its clients at shutdown)."""
        return self._value

    def get(self) -> T:
        if self._value is None:
            if self._factory is None:
                raise RuntimeError(f"{self.name}.configure() was not called")
            self._value = self._factory()
        return self._value


@dataclass(frozen=True)
class Route:
    queue_name: str
    actor_name: str
    # Optional: an actor that takes many of this topic's payloads at once (`payloads=[...]`).
    # The relay hands a claimed batch of the topic to it as one Dramatiq message, so a burst
    # (200 orders paid at once) costs one job and a few set-wise statements, not 200 of each.
    batch_actor: str | None = None


def declare_actor(
    broker: dramatiq.Broker, fn: Callable[..., Any], route: Route, options: Mapping[str, Any]
) -> None:
    """Register `fn` as the actor of `route` once per broker. `options` are Dramatiq's retry
    knobs (max_retries, min_backoff, max_backoff): each room says why its own are what they are."""
    if route.actor_name not in broker.actors:
        dramatiq.Actor(
            fn,
            broker=broker,
            actor_name=route.actor_name,
            queue_name=route.queue_name,
            priority=0,
            options=dict(options),
        )


def make_broker(
    settings: Settings,
    *,
    heartbeat_timeout_ms: int | None = None,
    maintenance_chance: int | None = None,
) -> dramatiq.Broker:
    """A Redis broker whose keys live under the settings' prefix (so test runs never share
    queues), or a StubBroker when Redis is not configured. Async actors need AsyncIO."""
    broker: dramatiq.Broker
    if settings.redis_url:
        from dramatiq.brokers.redis import RedisBroker

        # Bounded socket waits: a hung Redis must not hold the relay's row locks forever.
        options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5}
        if heartbeat_timeout_ms is not None:
            options["heartbeat_timeout"] = heartbeat_timeout_ms
        if maintenance_chance is not None:
            options["maintenance_chance"] = maintenance_chance
        broker = RedisBroker(
            url=settings.redis_url, namespace=f"{settings.redis_prefix}:dramatiq", **options
        )
    else:
        broker = StubBroker()
    if not any(isinstance(m, AsyncIO) for m in broker.middleware):
        broker.add_middleware(AsyncIO())
    return broker


BatchHandler = Callable[[list[dict[str, Any]]], Awaitable[object]]


class DramatiqSender:
    # The relay's claim on the rows it sends (core.outbox.relay_once): the Redis enqueue is
    # bounded by the broker's 5 s socket timeouts, a batch run here (`run_batches_here`) by
    # its partner calls' timeouts. A relay killed meanwhile leaves its rows to the other
    # workers after this, not after the 5 minutes an in-process job needs.
    claim = timedelta(seconds=30)

    def __init__(self, broker: dramatiq.Broker, routes: Mapping[str, Route]) -> None:
        self.broker = broker
        self.routes = dict(routes)
        self.local: dict[str, BatchHandler] = {}

    def run_batches_here(self, handlers: Mapping[str, BatchHandler]) -> None:
        """Run a claimed batch of these topics in this process (the relay awaits it) instead
        of enqueueing it. Why: a worker's Dramatiq consumer prefetches every message of the
        queue it finds, so of two workers one ran both halves of a 200-order burst while the
        other idled (bench/fulfillment.py: 2 workers no faster than 1), and each batch paid
        an enqueue, a consumer poll and its backoff. A relay busy with its batch claims no
        more, so the other workers' relays take the rest. Same at-least-once rule: the rows
        are marked sent once the job returned; if it raises they are retried by the relay."""
        self.local = dict(handlers)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.routes)

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        route = self.routes[topic]
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=route.queue_name,
            actor_name=route.actor_name,
            args=(),
            kwargs=dict(payload),
            options={},
            message_id=message_id,  # the outbox id: a resend is recognisably the same job
        )
        # redis-py is blocking here; keep the event loop free while it talks to Redis.
        await asyncio.to_thread(self.broker.enqueue, message)

    @property
    def batch_topics(self) -> frozenset[str]:
        return frozenset(t for t, r in self.routes.items() if r.batch_actor)

    async def send_many(self, topic: str, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """One Dramatiq message to the topic's batch actor carrying every payload. It gets a
        fresh id: a later resend of one of the outbox ids must not share its Redis key."""
        local = self.local.get(topic)
        if local is not None:
            await local([dict(p) for _, p in messages])
            return
        route = self.routes[topic]
        assert route.batch_actor is not None
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=route.queue_name,
            actor_name=route.batch_actor,
            args=(),
            kwargs={"payloads": [dict(p) for _, p in messages]},
            options={},
            message_id=new_id(),
        )
        await asyncio.to_thread(self.broker.enqueue, message)


Handler = Callable[[dict[str, Any]], Awaitable[object]]


class InProcessSender:
    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self.handlers = dict(handlers)

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.handlers)

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        await self.handlers[topic](dict(payload))
