"""Payments room: gateway port (Stripe), card pay links, carrier billing, refunds, ledger."""

from payments import carrier, domain, ledger
from payments.demo_gateway import DemoCardGateway, DemoGatewayRefused
from payments.errors import (
    AlreadyPaid,
    BadSignature,
    CardDeclined,
    InsufficientCredit,
    PayLinkExpired,
    RefundExceedsCaptured,
)
from payments.gateway import Gateway, GatewayError, GatewayUnknown, Intent, StripeGateway
from payments.incidents import list_incidents
from payments.models import Payment, PaymentIncident, PhoneAccount, Refund
from payments.orders import CommerceOrders, MarkPaidOutcome, Notifier, OrderInfo, OrderPort
from payments.refunds import refund_order
from payments.service import (
    PaymentDeps,
    charge_card,
    ensure_setup_intent,
    pay_url,
    payment_by_token,
    payments_for_order,
    refresh_from_gateway,
    settle,
    start_payment,
)
from payments.sweeper import refund_cancelled_orders, sweep_once
from payments.webhooks import handle_event, parse_event

__all__ = [
    "AlreadyPaid",
    "BadSignature",
    "CardDeclined",
    "CommerceOrders",
    "DemoCardGateway",
    "DemoGatewayRefused",
    "Gateway",
    "GatewayError",
    "GatewayUnknown",
    "InsufficientCredit",
    "Intent",
    "MarkPaidOutcome",
    "Notifier",
    "OrderInfo",
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
    "domain",
    "ensure_setup_intent",
    "handle_event",
    "ledger",
    "list_incidents",
    "parse_event",
    "pay_url",
    "payment_by_token",
    "payments_for_order",
    "refresh_from_gateway",
    "refund_cancelled_orders",
    "refund_order",
    "settle",
    "start_payment",
    "sweep_once",
]
