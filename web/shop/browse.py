"""Browsing, open to anyone and whole without JavaScript: offers by kind and date, search by
title or code, one offer with its venue or route, start time, price and seats left, and the
booking form that leads to the price with its fees (commerce's own pricing)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery

import commerce
from core.money import Money
from web.forms import search_day
from web.ports import PortsDep, SessionDep
from web.shop.render import shop_page

Req = Request[Any, Any, Any]
PUBLIC = {"public": True}
KINDS = ("event", "train", "flight", "hotel")


@get("/", opt=PUBLIC, include_in_schema=False)
async def offers(
    request: Req,
    services: PortsDep,
    q: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    on: FromQuery[str] = "",
    after: FromQuery[str] = "",
) -> Any:
    runtime = services.runtime
    search: dict[str, Any] = {
        "now": runtime.clock.now(),
        "zone": runtime.settings.zone,
        "kind": kind if kind in KINDS else None,
        "q": q.strip()[:100] or None,
        "on": search_day(on),
        "limit": 20,
        "cursor": after or None,
    }
    # the busiest page: on PostgreSQL one statement on asyncpg, no ORM and no transaction
    # (commerce.views_pg says why); the session's plain path otherwise
    if runtime.drivers is not None:
        found = await runtime.drivers.read(lambda pg: commerce.offer_cards_on(pg, **search))
    else:
        async with runtime.sessions() as session:
            found = await commerce.offer_cards(session, **search)
    return shop_page(
        request,
        "offers.html",
        offers=found.items,
        next_cursor=found.next_cursor,
        q=q,
        kind=kind if kind in KINDS else "",
        on=on,
        kinds=KINDS,
    )


def price_for(services: PortsDep, offer: commerce.Offer, qty: int, method: str) -> Any:
    s = services.runtime.settings
    return commerce.price_order(
        [commerce.PricedLine(offer.id, qty, Money(offer.price_amount, offer.currency))],
        method=commerce.DeliveryMethod(method),
        booking_fee=s.booking_fee,
        courier_fee=s.courier_fee,
        eticket_fee=s.eticket_fee,
        currency=offer.currency,
    )


@get("/offers/{offer_id:str}", opt=PUBLIC, include_in_schema=False)
async def offer(
    request: Req, services: PortsDep, session: SessionDep, offer_id: FromPath[str]
) -> Any:
    found = await commerce.get_offer(session, offer_id)
    return shop_page(
        request,
        "offer.html",
        offer=found,
        past=found.starts_at <= services.runtime.clock.now(),
        max_qty=min(commerce.MAX_QUANTITY, max(found.available, 1)),
    )


ROUTES = [offers, offer]
