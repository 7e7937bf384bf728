"""Fulfillment: paid orders reach delivery partners through the outbox and Dramatiq, once in
effect; partner callbacks move shipments on; the order is fulfilled when all are delivered."""

from fulfillment.actors import QUEUE as JOB_QUEUE
from fulfillment.actors import ROUTES as JOB_ROUTES
from fulfillment.actors import batch_handlers as job_batch_handlers
from fulfillment.actors import configure as configure_jobs
from fulfillment.actors import declare as declare_jobs
from fulfillment.actors import handlers as job_handlers
from fulfillment.domain import RetryPolicy, ShipmentStatus, verify_signature
from fulfillment.history import (
    may_read_history,
    order_history_from,
    order_history_on,
    order_history_sql,
)
from fulfillment.models import DeadLetter, Partner, PartnerPayable, Shipment
from fulfillment.order_texts import dead_letter_sms, resend_eticket
from fulfillment.orders import CommerceOrders
from fulfillment.partners import HttpPartnerClient, PartnerClient
from fulfillment.recon_partner import PARTNER as RECON_PARTNER
from fulfillment.recon_partner import PARTNER_FILE
from fulfillment.recovery import redeliver_lost_order_paid
from fulfillment.resend import Resent, resend_latest_eticket
from fulfillment.schemas import (
    DeadLetterOut,
    OrderItem,
    OrderSnapshot,
    PartnerIn,
    PartnerOut,
    ShipmentOut,
)
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
    shipment_lines_on,
    shipments_for_orders,
)

# Every outbox topic this room emits (a replayed dead letter re-emits commerce's order.paid).
TOPICS = frozenset({TOPIC_DISPATCH, TOPIC_SHIPMENT_FAILED, TOPIC_ORDER_PAID})

__all__ = [
    "JOB_QUEUE",
    "JOB_ROUTES",
    "PARTNER_FILE",
    "RECON_PARTNER",
    "TOPICS",
    "TOPIC_DISPATCH",
    "TOPIC_ORDER_PAID",
    "TOPIC_SHIPMENT_FAILED",
    "CommerceOrders",
    "DeadLetter",
    "DeadLetterOut",
    "FulfillmentContext",
    "HttpPartnerClient",
    "OrderGateway",
    "OrderItem",
    "OrderSnapshot",
    "Partner",
    "PartnerClient",
    "PartnerIn",
    "PartnerOut",
    "PartnerPayable",
    "Resent",
    "RetryPolicy",
    "Shipment",
    "ShipmentOut",
    "ShipmentStatus",
    "apply_partner_callback",
    "configure_jobs",
    "create_shipments",
    "dead_letter_sms",
    "declare_jobs",
    "dispatch",
    "handle_order_paid",
    "job_batch_handlers",
    "job_handlers",
    "list_dead_letters",
    "may_read_history",
    "order_history_from",
    "order_history_on",
    "order_history_sql",
    "order_shipments",
    "redeliver_lost_order_paid",
    "register_partner",
    "replay_dead_letter",
    "resend_eticket",
    "resend_latest_eticket",
    "shipment_lines_on",
    "shipments_for_orders",
    "sweep_due",
    "verify_signature",
]
