"""Facts from other rooms that open tickets, wired in api/ so the rooms stay apart
(fulfillment never imports ticketing): a shipment that failed for good becomes a `delivery`
ticket (channel system, priority high) linked to its order, one per shipment.

`ROUTES` and `declare(broker)` are the Dramatiq side (worker processes), `handlers(runtime)`
the same job for the in-process relay of the embedded defaults (api.worker merges both with
fulfillment's). The job is idempotent: the ticket's unique `source_key` is the shipment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
import structlog

import commerce
import fulfillment
import ticketing
from core.broker import Route, WorkerLocal
from core.errors import NotFound
from core.runtime import Runtime

log = structlog.get_logger("hotline.ticketing.events")
QUEUE = "ticketing"
ACTOR_SHIPMENT_FAILED = "ticketing.shipment_failed"
ROUTES = {fulfillment.TOPIC_SHIPMENT_FAILED: Route(QUEUE, ACTOR_SHIPMENT_FAILED)}


async def ticket_for_failed_shipment(runtime: Runtime, shipment_id: str) -> str:
    """Open (once) the delivery ticket for a shipment that failed permanently."""
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        shipment = await session.get(fulfillment.Shipment, shipment_id)
        if shipment is None:
            log.warning("failed shipment not found; no ticket", shipment_id=shipment_id)
            return "unknown"
        try:
            order = await commerce.get_order(session, shipment.order_id)
        except NotFound:
            log.warning("order of failed shipment not found", shipment_id=shipment_id)
            return "unknown"
        ticket, opened = await ticketing.open_system_ticket(
            session,
            source_key=f"shipment_failed:{shipment.id}",
            actor="system:fulfillment",
            category="delivery",
            priority="high",
            customer_id=order.customer_id,
            order_ids=[order.id],
            subject=f"配送失败 / Delivery failed: order {order.number}",
            description=(
                f"Shipment {shipment.id} of order {order.number} failed permanently after "
                f"{shipment.attempts} attempt(s): {shipment.last_error or 'no reason given'}"
            ),
            now=now,
        )
    log.info(
        "failed shipment ticket",
        shipment_id=shipment_id,
        ticket_id=ticket.id,
        outcome="opened" if opened else "duplicate",
    )
    return "opened" if opened else "duplicate"


# One runtime per worker process (api.worker configures it before the workers start).
_runtime: WorkerLocal[Runtime] = WorkerLocal("api.ticketing_events")
configure = _runtime.configure
_rt = _runtime.get


async def shipment_failed(shipment_id: str) -> None:
    await ticket_for_failed_shipment(_rt(), shipment_id)


def declare(broker: dramatiq.Broker) -> None:
    if ACTOR_SHIPMENT_FAILED not in broker.actors:
        dramatiq.Actor(
            shipment_failed,  # type: ignore[arg-type]
            broker=broker,
            actor_name=ACTOR_SHIPMENT_FAILED,
            queue_name=QUEUE,
            priority=0,
            options={"max_retries": 5, "min_backoff": 1_000, "max_backoff": 16_000},
        )


def handlers(runtime: Runtime) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    return {
        fulfillment.TOPIC_SHIPMENT_FAILED: lambda p: ticket_for_failed_shipment(
            runtime, p["shipment_id"]
        ),
    }
