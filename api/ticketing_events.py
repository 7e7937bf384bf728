"""Facts that open or announce tickets, wired in api/ so the rooms stay apart (fulfillment
and payments never import ticketing):
- a shipment that failed for good becomes a `delivery` ticket (channel system, priority high)
  linked to its order, one per shipment;
- a payment incident becomes a `payment` ticket linked to its order, one per incident;
- an SLA escalation (`ticket.escalated`) is announced live (ticketing.announce_escalation).

`ROUTES` and `declare(broker)` are the Dramatiq side (worker processes), `handlers(runtime)`
the same job for the in-process relay of the embedded defaults (api.outbox_routes merges both with
fulfillment's). The jobs are idempotent: a ticket's unique `source_key` is its fact.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
import structlog

import commerce
import fulfillment
import payments
import ticketing
from api.composition import Services
from core.broker import Route, WorkerLocal, declare_actor
from core.errors import NotFound
from core.runtime import Runtime

log = structlog.get_logger("hotline.ticketing.events")
QUEUE = "ticketing"
ACTOR_SHIPMENT_FAILED = "ticketing.shipment_failed"
ACTOR_PAYMENT_INCIDENT = "ticketing.payment_incident"
ACTOR_ESCALATED = "ticketing.escalated"
ROUTES = {
    fulfillment.TOPIC_SHIPMENT_FAILED: Route(QUEUE, ACTOR_SHIPMENT_FAILED),
    payments.TOPIC_PAYMENT_INCIDENT: Route(QUEUE, ACTOR_PAYMENT_INCIDENT),
    ticketing.TOPIC_TICKET_ESCALATED: Route(QUEUE, ACTOR_ESCALATED),
}
# Why a ticket per payment incident, and how urgent: each is money that moved without a person
# deciding it, and the list at GET /v1/payments/incidents is read when someone remembers to.
# A ticket has an owner queue, an SLA and the order linked, so the customer who calls about
# the charge finds an agent who already knows. Money taken but not booked is the worst.
INCIDENT_PRIORITY = {
    "amount_mismatch": "urgent",  # captured an amount we did not ask for; not booked
    "dispute": "high",  # evidence is due at the card network within days
    "late_success": "normal",  # booked, and refunded automatically if it cannot stay
    "auto_refund": "normal",  # the customer sees a charge and a refund and may call
}


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


async def ticket_for_payment_incident(runtime: Runtime, payload: dict[str, Any]) -> str:
    """Open (once) the finance ticket of a payment incident."""
    incident_id, kind = str(payload["incident_id"]), str(payload.get("kind"))
    async with runtime.sessions() as session, session.begin():
        try:
            order = await commerce.get_order(session, str(payload["order_id"]))
        except NotFound:
            log.warning("order of payment incident not found", incident_id=incident_id)
            return "unknown"
        row = await session.get(payments.PaymentIncident, incident_id)
        detail = row.detail if row is not None else kind
        ticket, opened = await ticketing.open_system_ticket(
            session,
            source_key=f"payment_incident:{incident_id}",
            actor="system:payments",
            category="payment",
            priority=INCIDENT_PRIORITY.get(kind, "high"),
            customer_id=order.customer_id,
            order_ids=[order.id],
            subject=f"支付异常 / Payment incident ({kind}): order {order.number}",
            description=f"Payment {payload.get('payment_id')} of order {order.number}: {detail}",
            now=runtime.clock.now(),
        )
    log.info(
        "payment incident ticket",
        incident_id=incident_id,
        kind=kind,
        ticket_id=ticket.id,
        outcome="opened" if opened else "duplicate",
    )
    return "opened" if opened else "duplicate"


async def announce_escalation(payload: dict[str, Any]) -> str:
    return ticketing.announce_escalation(payload)


# The worker process's runtime (api.outbox_routes.configure: its composition's).
_runtime: WorkerLocal[Runtime] = WorkerLocal("api.ticketing_events")
configure = _runtime.configure
_rt = _runtime.get


async def shipment_failed(shipment_id: str) -> None:
    await ticket_for_failed_shipment(_rt(), shipment_id)


async def payment_incident(**payload: Any) -> None:
    await ticket_for_payment_incident(_rt(), payload)


async def escalated(**payload: Any) -> None:
    await announce_escalation(payload)


_JOBS: dict[str, Callable[..., Awaitable[None]]] = {
    ACTOR_SHIPMENT_FAILED: shipment_failed,
    ACTOR_PAYMENT_INCIDENT: payment_incident,
    ACTOR_ESCALATED: escalated,
}


def declare(broker: dramatiq.Broker) -> None:
    for route in ROUTES.values():
        declare_actor(
            broker,
            _JOBS[route.actor_name],
            route,
            {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 16_000},
        )


def handlers(services: Services) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    runtime = services.runtime
    return {
        fulfillment.TOPIC_SHIPMENT_FAILED: lambda p: ticket_for_failed_shipment(
            runtime, p["shipment_id"]
        ),
        payments.TOPIC_PAYMENT_INCIDENT: lambda p: ticket_for_payment_incident(runtime, p),
        ticketing.TOPIC_TICKET_ESCALATED: announce_escalation,
    }
