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


class DramatiqSender:
    def __init__(self, broker: dramatiq.Broker, routes: Mapping[str, Route]) -> None:
        self.broker = broker
        self.routes = dict(routes)

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
