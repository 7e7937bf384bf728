"""Fulfillment: paid orders reach delivery partners through the outbox and Dramatiq, once in
effect; partner callbacks move shipments on; the order is fulfilled when all are delivered."""

from fulfillment.domain import RetryPolicy, ShipmentStatus, verify_signature
from fulfillment.models import DeadLetter, Partner, PartnerPayable, Shipment
from fulfillment.orders import CommerceOrders
from fulfillment.partners import HttpPartnerClient
from fulfillment.recovery import redeliver_lost_order_paid
from fulfillment.schemas import OrderItem, OrderSnapshot, PartnerIn
from fulfillment.service import (
    TOPIC_DISPATCH,
    TOPIC_ORDER_PAID,
    TOPIC_SHIPMENT_FAILED,
    FulfillmentContext,
    OrderGateway,
    create_shipments,
    dispatch,
    handle_order_paid,
    register_partner,
    sweep_due,
)
from fulfillment.tracking import (
    apply_partner_callback,
    list_dead_letters,
    order_shipments,
    replay_dead_letter,
)

# Every outbox topic this room emits (a replayed dead letter re-emits commerce's order.paid).
TOPICS = frozenset({TOPIC_DISPATCH, TOPIC_SHIPMENT_FAILED, TOPIC_ORDER_PAID})

__all__ = [
    "TOPICS",
    "TOPIC_DISPATCH",
    "TOPIC_ORDER_PAID",
    "TOPIC_SHIPMENT_FAILED",
    "CommerceOrders",
    "DeadLetter",
    "FulfillmentContext",
    "HttpPartnerClient",
    "OrderGateway",
    "OrderItem",
    "OrderSnapshot",
    "Partner",
    "PartnerIn",
    "PartnerPayable",
    "RetryPolicy",
    "Shipment",
    "ShipmentStatus",
    "apply_partner_callback",
    "create_shipments",
    "dispatch",
    "handle_order_paid",
    "list_dead_letters",
    "order_shipments",
    "redeliver_lost_order_paid",
    "register_partner",
    "replay_dead_letter",
    "sweep_due",
    "verify_signature",
]
