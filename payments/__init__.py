"""Payments room: gateway port (Stripe), card pay links, carrier billing, refunds, ledger."""

from payments import carrier, domain, ledger
from payments.cancellations import (
    on_order_cancelled,
    redeliver_lost_cancellations,
    void_attempts,
)
from payments.carrier import top_up
from payments.charges import charge_card, ensure_setup_intent, refresh_from_gateway
from payments.demo_gateway import DemoCardGateway, DemoGatewayRefused
from payments.errors import (
    AlreadyPaid,
    BadSignature,
    CardDeclined,
    InsufficientCredit,
    OrderNotPayable,
    PayLinkExpired,
    RefundExceedsCaptured,
)
from payments.gateway import (
    Gateway,
    GatewayError,
    GatewayNotFound,
    GatewayUnknown,
    Intent,
    StripeGateway,
)
from payments.incidents import TOPIC_PAYMENT_INCIDENT, list_incidents
from payments.models import Payment, PaymentIncident, PhoneAccount, Refund
from payments.orders import CommerceOrders, MarkPaidOutcome, Notifier, OrderInfo, OrderPort
from payments.payability import check_payable, payment_for_token, unpayable_status
from payments.refunds import refund_order
from payments.service import (
    PaymentDeps,
    pay_url,
    payment_by_token,
    payments_for_order,
    payments_for_orders,
    settle,
    start_payment,
)
from payments.sweeper import sweep_once
from payments.webhooks import handle_event, parse_event

# Every outbox topic this room emits; api/outbox_routes.py refuses to start without a route.
TOPICS = frozenset({TOPIC_PAYMENT_INCIDENT})

__all__ = [
    "TOPICS",
    "TOPIC_PAYMENT_INCIDENT",
    "AlreadyPaid",
    "BadSignature",
    "CardDeclined",
    "CommerceOrders",
    "DemoCardGateway",
    "DemoGatewayRefused",
    "Gateway",
    "GatewayError",
    "GatewayNotFound",
    "GatewayUnknown",
    "InsufficientCredit",
    "Intent",
    "MarkPaidOutcome",
    "Notifier",
    "OrderInfo",
    "OrderNotPayable",
    "OrderPort",
    "PayLinkExpired",
    "Payment",
    "PaymentDeps",
    "PaymentIncident",
    "PhoneAccount",
    "Refund",
    "RefundExceedsCaptured",
    "StripeGateway",
    "carrier",
    "charge_card",
    "check_payable",
    "domain",
    "ensure_setup_intent",
    "handle_event",
    "ledger",
    "list_incidents",
    "on_order_cancelled",
    "parse_event",
    "pay_url",
    "payment_by_token",
    "payment_for_token",
    "payments_for_order",
    "payments_for_orders",
    "redeliver_lost_cancellations",
    "refresh_from_gateway",
    "refund_order",
    "settle",
    "start_payment",
    "sweep_once",
    "top_up",
    "unpayable_status",
    "void_attempts",
]
