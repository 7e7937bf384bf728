"""Payments room: gateway port (Stripe), card pay links, carrier billing, refunds, ledger."""

from payments import carrier, carrier_pg, domain, finance_reports, ledger, recon, recon_files
from payments.cancellations import (
    on_order_cancelled,
    redeliver_lost_cancellations,
    void_attempts,
)
from payments.carrier import top_up
from payments.carrier_pg import Charged
from payments.carrier_pg import applies as carrier_fast_path
from payments.charges import charge_card, ensure_setup_intent, refresh_from_gateway
from payments.demo_gateway import DemoCardGateway, DemoGatewayRefused
from payments.errors import (
    AlreadyPaid,
    BadSignature,
    CardDeclined,
    InsufficientCredit,
    NotAnEvent,
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
from payments.recon import CATEGORIES as RECON_CATEGORIES
from payments.recon import ReconSource
from payments.recon_dates import MONTH_OR_DAY, TYPED_AFTER, in_years
from payments.recon_files import FileFormat, file_chunks, import_file, minor_units
from payments.recon_models import ReconImport, ReconItem, ReconResolution, ReconRun
from payments.recon_sources import CARRIER, CARRIER_FILE, STRIPE
from payments.recon_store import BadImportFile, NeedsPostgres, require_postgres
from payments.recon_stripe import TOPIC_PAYOUT_PAID, import_stripe, payout_job, reports_of
from payments.refunds import refund_order
from payments.service import (
    PaymentDeps,
    PaymentLine,
    pay_url,
    payment_by_token,
    payment_lines_on,
    payments_for_order,
    payments_for_orders,
    payments_for_orders_on,
    settle,
    start_payment,
)
from payments.sweeper import sweep_once
from payments.webhooks import handle_event, parse_event

# Every outbox topic this room emits; api/outbox_routes.py refuses to start without a route.
TOPICS = frozenset({TOPIC_PAYMENT_INCIDENT, TOPIC_PAYOUT_PAID})
RECON_SOURCES = {STRIPE.name: STRIPE, CARRIER.name: CARRIER}

__all__ = [
    "CARRIER",
    "CARRIER_FILE",
    "MONTH_OR_DAY",
    "RECON_CATEGORIES",
    "RECON_SOURCES",
    "STRIPE",
    "TOPICS",
    "TOPIC_PAYMENT_INCIDENT",
    "TOPIC_PAYOUT_PAID",
    "TYPED_AFTER",
    "AlreadyPaid",
    "BadImportFile",
    "BadSignature",
    "CardDeclined",
    "Charged",
    "CommerceOrders",
    "DemoCardGateway",
    "DemoGatewayRefused",
    "FileFormat",
    "Gateway",
    "GatewayError",
    "GatewayNotFound",
    "GatewayUnknown",
    "InsufficientCredit",
    "Intent",
    "MarkPaidOutcome",
    "NeedsPostgres",
    "NotAnEvent",
    "Notifier",
    "OrderInfo",
    "OrderNotPayable",
    "OrderPort",
    "PayLinkExpired",
    "Payment",
    "PaymentDeps",
    "PaymentIncident",
    "PaymentLine",
    "PhoneAccount",
    "ReconImport",
    "ReconItem",
    "ReconResolution",
    "ReconRun",
    "ReconSource",
    "Refund",
    "RefundExceedsCaptured",
    "StripeGateway",
    "carrier",
    "carrier_fast_path",
    "carrier_pg",
    "charge_card",
    "check_payable",
    "domain",
    "ensure_setup_intent",
    "file_chunks",
    "finance_reports",
    "handle_event",
    "import_file",
    "import_stripe",
    "in_years",
    "ledger",
    "list_incidents",
    "minor_units",
    "on_order_cancelled",
    "parse_event",
    "pay_url",
    "payment_by_token",
    "payment_for_token",
    "payment_lines_on",
    "payments_for_order",
    "payments_for_orders",
    "payments_for_orders_on",
    "payout_job",
    "recon",
    "recon_files",
    "redeliver_lost_cancellations",
    "refresh_from_gateway",
    "refund_order",
    "reports_of",
    "require_postgres",
    "settle",
    "start_payment",
    "sweep_once",
    "top_up",
    "unpayable_status",
    "void_attempts",
]
