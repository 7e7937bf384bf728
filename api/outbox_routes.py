"""Every outbox topic and the job that consumes it, in one table, checked at start-up.

A topic that is emitted but routed nowhere stays pending forever and nobody notices, so both
`hotline serve` (api.wiring.on_startup) and `hotline worker` (api.worker.serve) call
`check_routes()` first and refuse to start, naming the topic.

- `EMITTED`: what the rooms declare they emit (each room's `TOPICS` on its package surface).
- `CONSUMERS`: one entry per module of jobs. A module gives `ROUTES` (topic -> Dramatiq queue
  and actor), `declare(broker)`, a per-process `configure` (what its actors use, taken from the
  process's one composition) and `handlers(services)`, the same jobs as coroutines for the
  in-process relay. A new consumer module is one more entry here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import dramatiq

import commerce
import fulfillment
import payments
import ticketing
from api import payments_events, sms_events, ticketing_events
from api.composition import Services
from core.broker import BatchHandler, Handler, Route, WorkerLocal
from core.sms import TOPIC_SEND as SMS_SEND

# core emits one topic of its own: every SMS is queued as `sms.send` (core.sms).
EMITTED: frozenset[str] = (
    commerce.TOPICS | payments.TOPICS | fulfillment.TOPICS | ticketing.TOPICS | {SMS_SEND}
)


@dataclass(frozen=True)
class Consumer:
    queue: str
    routes: Mapping[str, Route]
    declare: Callable[[dramatiq.Broker], None]
    # Worker processes: point the actors at the process's composition (`get` builds it on
    # first use, in the actors' event loop).
    configure: Callable[[Callable[[], Services]], None]
    handlers: Callable[[Services], Mapping[str, Handler]]
    # Worker processes: the routes' batch jobs as coroutines, which the worker's relay runs
    # itself (core.broker.DramatiqSender.run_batches_here says why).
    batch_handlers: Callable[[Services], Mapping[str, BatchHandler]] = lambda _: {}


def _fulfillment_handlers(services: Services) -> Mapping[str, Handler]:
    return fulfillment.job_handlers(services.fulfillment)


def _configure_fulfillment(get: Callable[[], Services]) -> None:
    fulfillment.configure_jobs(lambda: get().fulfillment)


CONSUMERS: tuple[Consumer, ...] = (
    Consumer(
        fulfillment.JOB_QUEUE,
        fulfillment.JOB_ROUTES,
        fulfillment.declare_jobs,
        _configure_fulfillment,
        _fulfillment_handlers,
        lambda services: fulfillment.job_batch_handlers(services.fulfillment),
    ),
    Consumer(
        ticketing_events.QUEUE,
        ticketing_events.ROUTES,
        ticketing_events.declare,
        lambda get: ticketing_events.configure(lambda: get().runtime),
        ticketing_events.handlers,
    ),
    Consumer(
        payments_events.QUEUE,
        payments_events.ROUTES,
        payments_events.declare,
        payments_events.configure,
        payments_events.handlers,
    ),
    Consumer(
        sms_events.QUEUE,
        sms_events.ROUTES,
        sms_events.declare,
        sms_events.configure,
        sms_events.handlers,
    ),
)


def routes() -> dict[str, Route]:
    """topic -> Dramatiq route, for the relay's DramatiqSender."""
    table: dict[str, Route] = {}
    for consumer in CONSUMERS:
        table.update(consumer.routes)
    return table


def queues() -> set[str]:
    return {consumer.queue for consumer in CONSUMERS}


def handlers(services: Services) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    """topic -> coroutine, for the in-process relay of the embedded defaults."""
    table: dict[str, Callable[[dict[str, Any]], Awaitable[object]]] = {}
    for consumer in CONSUMERS:
        table.update(consumer.handlers(services))
    return table


def batch_handlers(services: Services) -> dict[str, BatchHandler]:
    """topic -> coroutine taking many payloads, for a worker's relay."""
    table: dict[str, BatchHandler] = {}
    for consumer in CONSUMERS:
        table.update(consumer.batch_handlers(services))
    return table


def declare(broker: dramatiq.Broker) -> None:
    for consumer in CONSUMERS:
        consumer.declare(broker)


# The worker process's one composition, shared by every consumer's actors.
_services: WorkerLocal[Services] = WorkerLocal("api.outbox_routes")


def configure(build: Callable[[], Services]) -> None:
    """Worker processes: `build` makes the process's composition (api.worker.serve); every
    consumer's actors use that one, built once, on first use in their event loop."""
    _services.configure(build)
    for consumer in CONSUMERS:
        consumer.configure(_services.get)


def built_services() -> Services | None:
    """The actors' composition, if a job has built it in their event loop."""
    return _services.built()


class UnroutedTopics(RuntimeError):
    """An emitted outbox topic has no consumer: its messages would wait forever."""


def check_routes(
    emitted: frozenset[str] | None = None, routed: Mapping[str, Route] | None = None
) -> None:
    """Raise UnroutedTopics naming every emitted topic without a route."""
    table = routes() if routed is None else routed
    missing = sorted((EMITTED if emitted is None else emitted) - set(table))
    if missing:
        raise UnroutedTopics(
            f"outbox topic(s) {', '.join(missing)} are emitted but have no consumer; "
            "add a route in api/outbox_routes.py (CONSUMERS) before starting"
        )
