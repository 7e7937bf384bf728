"""Thin, idempotent Dramatiq actors: they take ids, use their own sessions and call the service.

Which topic goes to which actor is `ROUTES` (used by the outbox relay); `declare(broker)`
registers the actors on a broker (the worker entrypoint does it), and `handlers(ctx)` gives
the same jobs as plain coroutines for the in-process worker of the embedded defaults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from core.broker import Route, WorkerLocal, declare_actor
from fulfillment import batch, metrics, service
from fulfillment.service import FulfillmentContext

QUEUE = "fulfillment"
TOPIC_ORDER_PAID = service.TOPIC_ORDER_PAID
# A burst's messages go to the batch actors, many per job (fulfillment.batch says why).
ROUTES = {
    TOPIC_ORDER_PAID: Route(QUEUE, "fulfillment.order_paid", "fulfillment.order_paid_many"),
    service.TOPIC_DISPATCH: Route(QUEUE, "fulfillment.dispatch", "fulfillment.dispatch_many"),
}

# One context per worker process (api.worker configures it before the workers start).
_context: WorkerLocal[FulfillmentContext] = WorkerLocal("fulfillment.actors")
configure = _context.configure
_ctx = _context.get


async def _run(name: str, job: Awaitable[object]) -> None:
    try:
        outcome = await job
    except Exception:
        metrics.JOBS.labels(name, "error").inc()
        raise  # Dramatiq's Retries middleware tries again; the job is idempotent
    metrics.JOBS.labels(name, str(outcome) if isinstance(outcome, str) else "ok").inc()


async def order_paid(order_id: str) -> None:
    # The burst's job with a batch of one: this job sends the shipment itself, with no second
    # job through the relay and Redis (fulfillment.batch's docstring says how and why).
    await _run("order_paid", batch.handle_orders_paid(_ctx(), [order_id]))


async def dispatch_shipment(shipment_id: str) -> None:
    await _run("dispatch", service.dispatch(_ctx(), shipment_id))


async def order_paid_many(payloads: list[dict[str, Any]]) -> None:
    ids = [str(p["order_id"]) for p in payloads]
    await _run("order_paid", batch.handle_orders_paid(_ctx(), ids))


async def dispatch_many(payloads: list[dict[str, Any]]) -> None:
    ids = [str(p["shipment_id"]) for p in payloads]
    await _run("dispatch", batch.dispatch_many(_ctx(), ids))


_JOBS: dict[str, Callable[..., Awaitable[None]]] = {
    "fulfillment.order_paid": order_paid,
    "fulfillment.dispatch": dispatch_shipment,
    "fulfillment.order_paid_many": order_paid_many,
    "fulfillment.dispatch_many": dispatch_many,
}


# Dramatiq's own retries only cover an exception in the job (a database blip, a bug): partner
# timeouts, 5xx and 429 are not exceptions but outcomes, retried durably by the service with
# RetryPolicy through the outbox, and counted in `shipment.attempts`. So Dramatiq retries few
# times, quickly, and what it gives up on (Redis' own dead-letter queue, read by nobody) must
# still be recoverable by us:
# - dispatch: the shipment stays `pending` with a `next_attempt_at` (and any lease expires),
#   so the watchdog (service.sweep_due) sends it again; extra Dramatiq retries would only
#   find the lease held and skip, and every real attempt still counts towards max_attempts.
# - order_paid: no shipment exists yet, so fulfillment.recovery re-sends the outbox message
#   after RetryPolicy.redeliver_seconds, past this window (at most 2+4+8+16 = 30 s),
#   and finally dead-letters it in our list. A missing partner does not raise at all.
# Dramatiq's TimeLimit (10 min by default) stays above the partner timeout and lease.
ACTOR_OPTIONS: dict[str, dict[str, int]] = {
    "fulfillment.order_paid": {"max_retries": 4, "min_backoff": 1_000, "max_backoff": 16_000},
    "fulfillment.dispatch": {"max_retries": 3, "min_backoff": 1_000, "max_backoff": 8_000},
}
# A batch job is retried like the job it stands for (each of its items is idempotent).
ACTOR_OPTIONS["fulfillment.order_paid_many"] = ACTOR_OPTIONS["fulfillment.order_paid"]
ACTOR_OPTIONS["fulfillment.dispatch_many"] = ACTOR_OPTIONS["fulfillment.dispatch"]


def retry_window_seconds(actor_name: str) -> float:
    """Longest time Dramatiq keeps retrying a failing job of this actor before giving up."""
    opts = ACTOR_OPTIONS[actor_name]
    # Retry n waits min_backoff * 2**n with jitter up to twice that, capped at max_backoff.
    waits = (
        min(opts["max_backoff"], 2 * opts["min_backoff"] * 2**n) for n in range(opts["max_retries"])
    )
    return sum(waits) / 1000


def declare(broker: dramatiq.Broker) -> None:
    for route in ROUTES.values():
        declare_actor(broker, _JOBS[route.actor_name], route, ACTOR_OPTIONS[route.actor_name])
        if route.batch_actor:
            many = Route(route.queue_name, route.batch_actor)
            declare_actor(broker, _JOBS[many.actor_name], many, ACTOR_OPTIONS[many.actor_name])


def batch_handlers(
    ctx: FulfillmentContext,
) -> dict[str, Callable[[list[dict[str, Any]]], Awaitable[object]]]:
    """The batch jobs as coroutines taking many payloads, for a worker's relay that runs a
    claimed burst itself (core.broker.DramatiqSender.run_batches_here)."""
    return {
        TOPIC_ORDER_PAID: lambda ps: _run(
            "order_paid", batch.handle_orders_paid(ctx, [str(p["order_id"]) for p in ps])
        ),
        service.TOPIC_DISPATCH: lambda ps: _run(
            "dispatch", batch.dispatch_many(ctx, [str(p["shipment_id"]) for p in ps])
        ),
    }


def handlers(ctx: FulfillmentContext) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    """The same jobs for the in-process relay (embedded defaults): payload -> coroutine."""
    return {
        TOPIC_ORDER_PAID: lambda p: _run(
            "order_paid", service.handle_order_paid(ctx, p["order_id"])
        ),
        service.TOPIC_DISPATCH: lambda p: _run("dispatch", service.dispatch(ctx, p["shipment_id"])),
    }
