"""What the commerce room accepts and returns (msgspec structs; api/ serves them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from .domain import MAX_LINES, MAX_QUANTITY
from .draft import PlacedOrder
from .models import Offer, Order, OrderEvent

Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY, description="seats or rooms")]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class MoneyJson(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(description="integer minor units (fen for CNY)")]
    currency: Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")] = "CNY"


class OfferIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Annotated[str, msgspec.Meta(description="event, train, flight or hotel")]
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    venue: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    starts_at: datetime
    price: MoneyJson
    capacity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    code: Annotated[str, msgspec.Meta(max_length=16)] | None = None


class OfferOut(msgspec.Struct):
    id: str
    code: str
    kind: str
    title: str
    venue: str
    starts_at: datetime
    price: MoneyJson
    capacity: int
    available: int


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    offer_id: Id
    quantity: Quantity


class DeliveryIn(msgspec.Struct, forbid_unknown_fields=True):
    method: Annotated[str, msgspec.Meta(description="e_ticket (free) or courier")] = "e_ticket"
    address: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    items: Annotated[list[ItemIn], msgspec.Meta(min_length=1, max_length=MAX_LINES)]
    delivery: DeliveryIn = msgspec.field(default_factory=DeliveryIn)
    customer_id: Id | None = None
    verification_id: Id | None = None


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ItemOut(msgspec.Struct):
    offer_id: str
    offer_code: str
    title: str
    starts_at: datetime
    quantity: int
    unit_price: MoneyJson
    line_total: MoneyJson


class DeliveryOut(msgspec.Struct):
    method: str
    address: str | None


class HistoryOut(msgspec.Struct):
    from_status: str | None
    to_status: str
    actor: str
    channel: str
    reason: str
    at: datetime


class OrderOut(msgspec.Struct):
    id: str
    number: str
    customer_id: str
    status: str
    channel: str
    items: list[ItemOut]
    subtotal: MoneyJson
    booking_fee: MoneyJson
    delivery_fee: MoneyJson
    total: MoneyJson
    delivery: DeliveryOut
    hold_expires_at: datetime
    created_at: datetime
    history: list[HistoryOut] | None = None


class OfferPage(msgspec.Struct):
    items: list[OfferOut]
    next_cursor: str | None


class OrderPage(msgspec.Struct):
    items: list[OrderOut]
    next_cursor: str | None


def money(amount: int, currency: str) -> MoneyJson:
    return MoneyJson(amount, currency)


def offer_out(o: Offer) -> OfferOut:
    return OfferOut(
        id=o.id,
        code=o.code,
        kind=o.kind,
        title=o.title,
        venue=o.venue,
        starts_at=o.starts_at,
        price=money(o.price_amount, o.currency),
        capacity=o.capacity,
        available=o.available,
    )


def order_out(o: Order | PlacedOrder, history: list[OrderEvent] | None = None) -> OrderOut:
    c = o.currency
    return OrderOut(
        id=o.id,
        number=o.number,
        customer_id=o.customer_id,
        status=o.status,
        channel=o.channel,
        items=[
            ItemOut(
                offer_id=i.offer_id,
                offer_code=i.offer_code,
                title=i.title,
                starts_at=i.starts_at,
                quantity=i.quantity,
                unit_price=money(i.unit_price, c),
                line_total=money(i.line_total, c),
            )
            for i in o.items
        ],
        subtotal=money(o.subtotal, c),
        booking_fee=money(o.booking_fee, c),
        delivery_fee=money(o.delivery_fee, c),
        total=money(o.total, c),
        delivery=DeliveryOut(o.delivery_method, o.delivery_address),
        hold_expires_at=o.hold_expires_at,
        created_at=o.created_at,
        history=None
        if history is None
        else [
            HistoryOut(e.from_status, e.to_status, e.actor, e.channel, e.reason, e.at)
            for e in history
        ],
    )
