"""The rows the customer shop's offer list and order page show, and the plain way to read
them: the ORM functions (search_offers, get_order_for) converted. commerce.views_pg reads the
same rows in one asyncpg statement each on PostgreSQL (the fast path; see there why)."""

from __future__ import annotations

from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from core.paging import Page
from core.principal import Principal

from .models import Offer, Order
from .offers import search_offers
from .reading import get_order_for


# Tuples, not dataclasses: a page builds one per row, and a frozen dataclass's __init__ costs
# several times a tuple's.
class OfferCard(NamedTuple):
    id: str
    code: str
    kind: str
    title: str
    venue: str
    starts_at: datetime
    price_amount: int
    currency: str
    available: int

    @classmethod
    def of(cls, o: Offer) -> OfferCard:
        return cls(
            o.id, o.code, o.kind, o.title, o.venue, o.starts_at, o.price_amount, o.currency,
            o.available,
        )  # fmt: skip


class OrderLine(NamedTuple):
    offer_id: str
    offer_code: str
    title: str
    starts_at: datetime
    quantity: int
    unit_price: int
    line_total: int


class OrderView(NamedTuple):
    id: str
    number: str
    customer_id: str
    status: str
    currency: str
    subtotal: int
    booking_fee: int
    delivery_fee: int
    total: int
    delivery_method: str
    delivery_address: str | None
    hold_expires_at: datetime
    items: tuple[OrderLine, ...]

    @classmethod
    def of(cls, o: Order) -> OrderView:
        lines = tuple(
            OrderLine(
                i.offer_id,
                i.offer_code,
                i.title,
                i.starts_at,
                i.quantity,
                i.unit_price,
                i.line_total,
            )
            for i in o.items
        )
        return cls(
            o.id, o.number, o.customer_id, o.status, o.currency, o.subtotal, o.booking_fee,
            o.delivery_fee, o.total, o.delivery_method, o.delivery_address, o.hold_expires_at,
            lines,
        )  # fmt: skip


async def offer_cards(
    session: AsyncSession,
    *,
    now: datetime,
    zone: ZoneInfo,
    kind: str | None = None,
    q: str | None = None,
    on: date | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[OfferCard]:
    found = await search_offers(
        session, now=now, zone=zone, kind=kind, q=q, on=on, limit=limit, cursor=cursor
    )
    return Page([OfferCard.of(o) for o in found.items], found.next_cursor)


async def order_view(session: AsyncSession, order_id: str, customer: Principal) -> OrderView:
    return OrderView.of(await get_order_for(session, order_id, customer))
