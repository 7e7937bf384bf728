"""Commerce: offers and capacity, holds, orders and their lifecycle, pricing.

The public surface other rooms (payments, fulfillment, ticketing) and api/ may use.
"""

from __future__ import annotations

from commerce.schemas import (
    CancelIn,
    MoneyJson,
    OfferIn,
    OfferOut,
    OfferPage,
    OrderIn,
    OrderOut,
    OrderPage,
    offer_out,
    order_out,
)
from core.paging import Page

from .board import ChannelTakings, takings_since
from .capacity import LOCK_TIMEOUT_MS
from .domain import (
    MAX_QUANTITY,
    TRANSITIONS,
    DeliveryMethod,
    LineRequest,
    OfferKind,
    OrderStatus,
    PriceBreakdown,
    PricedLine,
    can_transition,
    price_order,
)
from .draft import PlacedOrder
from .errors import OfferCodeTaken, SoldOut
from .jobs import expire_holds_job, purge_idempotency_keys_job
from .models import Offer, Order, OrderEvent, OrderItem
from .offers import create_offer, find_offer_by_code, get_offer, search_offers
from .placing import OrderPlacement, placement
from .reading import (
    OrderSummary,
    check_order_reader,
    check_order_staff,
    get_order,
    get_order_for,
    list_orders,
    may_see,
    order_history,
    order_summaries,
    order_summaries_on,
    recent_orders_on,
    summaries_sql,
    summary_number,
)
from .service import (
    TOPIC_ORDER_CANCELLED,
    TOPIC_ORDER_PAID,
    MarkPaidResult,
    cancel_order,
    expire_due_holds,
    mark_paid,
    move_many,
    place_order,
    transition,
)
from .views import OfferCard, OrderLine, OrderView, offer_cards, order_view
from .views_pg import offer_cards_on, order_view_on

# Every outbox topic this room emits; api/outbox_routes.py refuses to start without a route.
TOPICS = frozenset({TOPIC_ORDER_PAID, TOPIC_ORDER_CANCELLED})

__all__ = [
    "LOCK_TIMEOUT_MS",
    "MAX_QUANTITY",
    "TOPICS",
    "TOPIC_ORDER_CANCELLED",
    "TOPIC_ORDER_PAID",
    "TRANSITIONS",
    "CancelIn",
    "ChannelTakings",
    "DeliveryMethod",
    "LineRequest",
    "MarkPaidResult",
    "MoneyJson",
    "Offer",
    "OfferCard",
    "OfferCodeTaken",
    "OfferIn",
    "OfferKind",
    "OfferOut",
    "OfferPage",
    "Order",
    "OrderEvent",
    "OrderIn",
    "OrderItem",
    "OrderLine",
    "OrderOut",
    "OrderPage",
    "OrderPlacement",
    "OrderStatus",
    "OrderSummary",
    "OrderView",
    "Page",
    "PlacedOrder",
    "PriceBreakdown",
    "PricedLine",
    "SoldOut",
    "can_transition",
    "cancel_order",
    "check_order_reader",
    "check_order_staff",
    "create_offer",
    "expire_due_holds",
    "expire_holds_job",
    "find_offer_by_code",
    "get_offer",
    "get_order",
    "get_order_for",
    "list_orders",
    "mark_paid",
    "may_see",
    "move_many",
    "offer_cards",
    "offer_cards_on",
    "offer_out",
    "order_history",
    "order_out",
    "order_summaries",
    "order_summaries_on",
    "order_view",
    "order_view_on",
    "place_order",
    "placement",
    "price_order",
    "purge_idempotency_keys_job",
    "recent_orders_on",
    "search_offers",
    "summaries_sql",
    "summary_number",
    "takings_since",
    "transition",
]
