"""Thin, idempotent Dramatiq actors: they take ids, use their own sessions and call the service.

Which topic goes to which actor is `ROUTES` (used by the outbox relay); `declare(broker)`
registers the actors on a broker (the worker entrypoint does it), and `handlers(ctx)` gives
the same jobs as plain coroutines for the in-process worker of the embedded defaults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from core.broker import Route
from fulfillment import metrics, service
from fulfillment.service import FulfillmentContext

QUEUE = "fulfillment"
TOPIC_ORDER_PAID = service.TOPIC_ORDER_PAID
ROUTES = {
    TOPIC_ORDER_PAID: Route(QUEUE, "fulfillment.order_paid"),
    service.TOPIC_DISPATCH: Route(QUEUE, "fulfillment.dispatch"),
}

# One context per worker process, built lazily inside the actors' event loop (database
# engines belong to the loop that created them). Set by api.worker before workers start.
_factory: Callable[[], FulfillmentContext] | None = None
_context: FulfillmentContext | None = None


def configure(factory: Callable[[], FulfillmentContext]) -> None:
    global _factory, _context
    _factory, _context = factory, None


def _ctx() -> FulfillmentContext:
    global _context
    if _context is None:
        if _factory is None:
            raise RuntimeError("fulfillment.actors.configure() was not called")
        _context = _factory()
    return _context


async def _run(name: str, job: Awaitable[object]) -> None:
    try:
        outcome = await job
    except Exception:
        metrics.JOBS.labels(name, "error").inc()
        raise  # Dramatiq's Retries middleware tries again; the job is idempotent
    metrics.JOBS.labels(name, str(outcome) if isinstance(outcome, str) else "ok").inc()


async def order_paid(order_id: str) -> None:
    await _run("order_paid", service.handle_order_paid(_ctx(), order_id))


async def dispatch_shipment(shipment_id: str) -> None:
    await _run("dispatch", service.dispatch(_ctx(), shipment_id))


_JOBS: dict[str, Callable[..., Awaitable[None]]] = {
    "fulfillment.order_paid": order_paid,
    "fulfillment.dispatch": dispatch_shipment,
}


def declare(broker: dramatiq.Broker) -> None:
    for route in ROUTES.values():
        if route.actor_name not in broker.actors:
            dramatiq.Actor(
                _JOBS[route.actor_name],  # type: ignore[arg-type]
                broker=broker,
                actor_name=route.actor_name,
                queue_name=route.queue_name,
                priority=0,
                options={"max_retries": 10, "min_backoff": 500, "max_backoff": 30_000},
            )


def handlers(ctx: FulfillmentContext) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    """The same jobs for the in-process relay (embedded defaults): payload -> coroutine."""
    return {
        TOPIC_ORDER_PAID: lambda p: _run(
            "order_paid", service.handle_order_paid(ctx, p["order_id"])
        ),
        service.TOPIC_DISPATCH: lambda p: _run("dispatch", service.dispatch(ctx, p["shipment_id"])),
    }
