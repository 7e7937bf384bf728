"""The rows of a new order, priced from its quote: shared by both adapters of the placement
port (commerce/placing.py), whichever database writes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core.db import new_id
from core.idempotency import Completion
from core.money import Money
from core.settings import Settings

from .domain import (
    DeliveryMethod,
    LineRequest,
    OrderStatus,
    PricedLine,
    check_actor,
    check_delivery,
    normalise_lines,
    price_order,
)
from .guards import HeldLine
from .models import Order, OrderItem

PLACED = OrderStatus.AWAITING_PAYMENT.value
REASON = "order placed"


class OrderRequest(TypedDict):
    """What a caller asks for: the keyword arguments of both ways to place an order."""

    customer_id: str
    lines: Sequence[LineRequest]
    delivery_method: str
    delivery_address: str | None
    actor: str
    channel: str


@dataclass(frozen=True, slots=True)
class Asked:
    """An OrderRequest checked: a known actor and channel, a delivery, merged sorted lines."""

    customer_id: str
    actor: str
    channel: str
    method: DeliveryMethod
    address: str | None
    lines: list[LineRequest]


def check_request(order: OrderRequest) -> Asked:
    check_actor(order["actor"], order["channel"])
    method, address = check_delivery(order["delivery_method"], order["delivery_address"])
    return Asked(
        order["customer_id"],
        order["actor"],
        order["channel"],
        method,
        address,
        normalise_lines(order["lines"]),
    )


@dataclass(frozen=True, slots=True)
class Draft:
    """Column values of the order (without its number), its items and first history row."""

    values: dict[str, Any]
    items: list[dict[str, Any]]
    event: dict[str, Any]

    def attach(self, session: AsyncSession, number: str) -> Order:
        """The order as ORM objects for rows already written, as if loaded in `session` (for
        callers composing the order with their own writes)."""
        order = Order(number=number, **self.values)
        items = [OrderItem(**i) for i in self.items]
        for obj in (order, *items):
            make_transient_to_detached(obj)
            session.add(obj)
        set_committed_value(order, "items", items)
        return order

    def order(self, number: str) -> PlacedOrder:
        """The order as written, for the response (ORM instances cost 90 us each to build)."""
        return PlacedOrder(
            number=number, items=[PlacedItem(**i) for i in self.items], **self.values
        )


@dataclass(slots=True, kw_only=True)
class PlacedItem:
    """An order line as written: the same attributes as OrderItem, without the ORM."""

    id: str
    order_id: str
    offer_id: str
    offer_code: str
    title: str
    starts_at: datetime
    quantity: int
    unit_price: int
    line_total: int


@dataclass(slots=True, kw_only=True)
class PlacedOrder:
    """An order as written on its own by the PostgreSQL adapter: Order's columns and items."""

    id: str
    number: str
    customer_id: str
    status: str
    channel: str
    currency: str
    subtotal: int
    booking_fee: int
    delivery_fee: int
    total: int
    delivery_method: str
    delivery_address: str | None
    hold_expires_at: datetime
    created_by: str
    created_at: datetime
    updated_at: datetime
    items: list[PlacedItem]


def draft_order(
    held: Sequence[HeldLine], asked: Asked, *, settings: Settings, now: datetime
) -> Draft:
    currency = held[0].currency
    price = price_order(
        [PricedLine(h.offer_id, h.quantity, Money(h.unit_price, h.currency)) for h in held],
        method=asked.method,
        booking_fee=settings.booking_fee,
        courier_fee=settings.courier_fee,
        eticket_fee=settings.eticket_fee,
        currency=currency,
    )
    order_id = new_id()
    values = {
        "id": order_id,
        "customer_id": asked.customer_id,
        "status": PLACED,
        "channel": asked.channel,
        "currency": currency,
        "subtotal": price.subtotal.amount,
        "booking_fee": price.booking_fee.amount,
        "delivery_fee": price.delivery_fee.amount,
        "total": price.total.amount,
        "delivery_method": asked.method.value,
        "delivery_address": asked.address,
        "hold_expires_at": now + timedelta(minutes=settings.hold_minutes),
        "created_by": asked.actor,
        "created_at": now,
        "updated_at": now,
    }
    items = [
        {
            "id": new_id(),
            "order_id": order_id,
            "offer_id": h.offer_id,
            "offer_code": h.code,
            "title": h.title,
            "starts_at": h.starts_at,
            "quantity": h.quantity,
            "unit_price": h.unit_price,
            "line_total": h.unit_price * h.quantity,
        }
        for h in held
    ]
    event = {
        "id": new_id(),
        "order_id": order_id,
        "from_status": None,
        "to_status": PLACED,
        "actor": asked.actor,
        "channel": asked.channel,
        "reason": REASON,
        "at": now,
    }
    return Draft(values, items, event)


Placed = Order | PlacedOrder
# The Idempotency-Key reply to commit with the order (None: no key), from the order as written.
Respond = Callable[[Placed], Completion | None]
