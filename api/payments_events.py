"""Commerce facts that payments acts on, wired in api/ because commerce cannot import payments:
a cancelled order (`order.cancelled`) has its unused pay links voided and what was captured
refunded, once (payments.on_order_cancelled).

`ROUTES` and `declare(broker)` are the Dramatiq side (worker processes), `handlers(services)`
the same job for the in-process relay of the embedded defaults (api/outbox_routes.py lists
both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import dramatiq

import commerce
import payments
from api.composition import Services
from core.broker import JOBS, Route, WorkerLocal, declare_actor

QUEUE = "payments"
ACTOR_ORDER_CANCELLED = "payments.order_cancelled"
ACTOR_PAYOUT_PAID = "payments.payout_paid"
ROUTES = {
    commerce.TOPIC_ORDER_CANCELLED: Route(QUEUE, ACTOR_ORDER_CANCELLED),
    payments.TOPIC_PAYOUT_PAID: Route(QUEUE, ACTOR_PAYOUT_PAID),
}


async def refund_cancelled_order(services: Services, order_id: str) -> str:
    runtime = services.runtime
    try:
        outcome = await payments.on_order_cancelled(
            runtime.sessions, services.payments, order_id, runtime.clock.now()
        )
    except Exception:
        JOBS.labels("order_cancelled", "error").inc()
        raise  # Dramatiq (or the relay's backoff) tries again; the job is idempotent
    JOBS.labels("order_cancelled", outcome).inc()
    return outcome


async def reconcile_payout(services: Services, payout_id: str) -> str:
    """A Stripe payout arrived: import its balance transactions and reconcile them."""
    runtime = services.runtime
    return await payments.payout_job(
        runtime.sessions,
        services.gateway,
        payout_id,
        window=timedelta(hours=runtime.settings.recon_window_hours),
        now=runtime.clock.now(),
    )


async def redelivery_job(services: Services) -> int:
    """Periodic: send `order.cancelled` again where its job was lost (see payments)."""
    runtime = services.runtime
    return await payments.redeliver_lost_cancellations(runtime.sessions, runtime.clock.now())


# The worker process's composition (api.outbox_routes.configure points it there).
_services: WorkerLocal[Services] = WorkerLocal("api.payments_events")
configure = _services.configure


async def order_cancelled(order_id: str, **_: Any) -> None:
    await refund_cancelled_order(_services.get(), order_id)


async def payout_paid(payout_id: str, **_: Any) -> None:
    await reconcile_payout(_services.get(), payout_id)


def declare(broker: dramatiq.Broker) -> None:
    # Gateway trouble is not an exception here (the refund stays `unknown` and the payments
    # sweeper asks again); these retries cover a database blip.
    declare_actor(
        broker,
        order_cancelled,
        Route(QUEUE, ACTOR_ORDER_CANCELLED),
        {"max_retries": 8, "min_backoff": 2_000, "max_backoff": 300_000},
    )
    # Stripe unreachable is an exception here: the import is idempotent, so retry it.
    declare_actor(
        broker,
        payout_paid,
        Route(QUEUE, ACTOR_PAYOUT_PAID),
        {"max_retries": 12, "min_backoff": 10_000, "max_backoff": 3_600_000},
    )


def handlers(services: Services) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    return {
        commerce.TOPIC_ORDER_CANCELLED: lambda p: refund_cancelled_order(services, p["order_id"]),
        payments.TOPIC_PAYOUT_PAID: lambda p: reconcile_payout(services, p["payout_id"]),
    }
