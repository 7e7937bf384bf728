"""Booking: the price with its fees before anything is held, the order placed by commerce's
one `OrderPlacement` (what POST /v1/orders uses) under the form's Idempotency-Key, the order
page with its hold countdown and what can be done now, the customer's orders, and cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, get, post
from litestar.params import FromPath

import commerce
import fulfillment
import payments
from core.errors import IdempotencyConflict, IdempotencyInProgress, ValidationFailed
from core.runtime import Runtime
from core.text import check_plain_text
from web.forms import delivery_method, quantity
from web.once import key_of, new_key, once_committed, once_in
from web.ports import PortsDep, SessionDep
from web.shop.access import Shopper, ShopperDep
from web.shop.browse import price_for
from web.shop.errors import render as render_problem
from web.shop.render import see, shop_page
from web.shop.ticket_qr import eticket_svg
from web.words import N_

Req = Request[Any, Any, Any]
HOLDING = ("awaiting_payment",)
SHOWS_TICKET = ("paid", "fulfilling", "fulfilled")
# Orders whose checkout went through: their page shows the step bar at "Done". An expired or
# cancelled one never got there and shows none.
CHECKED_OUT = (*SHOWS_TICKET, "refunded")
REBOOK = (
    N_("This booking form was already sent with other choices."),
    N_("The booking it made is under My orders. To book these choices too, open a fresh form."),
)


def _address(method: str, raw: Any) -> str | None:
    address = str(raw or "").strip()
    if method == "courier" and len(address) < 5:
        raise ValidationFailed.field("address", "the courier needs a full address")
    if len(address) > 500:  # commerce's limit (check_delivery); cut, the courier got half of it
        raise ValidationFailed.field("address", "at most 500 characters")
    check_plain_text("address", address, lines=True)  # named as the form names it
    return address if method == "courier" else None


async def patiently(make: Callable[[], Awaitable[str]]) -> str:
    """A double tap's second request finds the first still running: wait for its answer
    (the same order) instead of showing the customer a conflict."""
    for _ in range(20):
        try:
            return await make()
        except IdempotencyInProgress:
            await asyncio.sleep(0.25)
    return await make()


@get("/offers/{offer_id:str}/confirm", include_in_schema=False)
async def confirm(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    offer_id: FromPath[str],
) -> Any:
    """Step 2 of 4: what it costs (unit price x seats, booking fee, delivery fee, total) and
    for how long the seats will be held, before anything is held."""
    params = request.query_params
    offer = await commerce.get_offer(session, offer_id)
    qty = quantity(params.get("qty") or 1)
    method = delivery_method(params.get("method"), "e_ticket")
    address = _address(method, params.get("address"))
    return shop_page(
        request,
        "confirm.html",
        offer=offer,
        qty=qty,
        method=method,
        address=address or "",
        price=price_for(services, offer, qty, method),
        hold_minutes=services.runtime.settings.hold_minutes,
        key=new_key(),
    )


@post("/orders", include_in_schema=False)
async def place(request: Req, services: PortsDep, session: SessionDep, shopper: ShopperDep) -> Any:
    form = await request.form()
    runtime, now = services.runtime, services.runtime.clock.now()
    key = key_of(form)
    offer_id = str(form.get("offer_id", ""))
    qty = quantity(form.get("qty"))
    method = delivery_method(form.get("method"), "e_ticket")
    address = _address(method, form.get("address"))

    async def work(respond: Any) -> str:
        placed = await services.placement.place(
            customer_id=shopper.id,
            lines=[commerce.LineRequest(offer_id, qty)],
            delivery_method=method,
            delivery_address=address,
            actor=shopper.principal.actor,
            channel="web",
            now=now,
            respond=lambda order: respond(order.id),
        )
        return str(placed.id)

    payload = {"offer": offer_id, "qty": qty, "method": method, "address": address}
    try:
        order_id = await patiently(
            lambda: once_committed(
                runtime,
                session,
                key=key,
                scope=f"web.shop.orders.create:{shopper.principal.actor}",
                payload=payload,
                work=work,
            )
        )
    except IdempotencyConflict as exc:
        # The form was sent before with other seats or delivery (a page kept from earlier):
        # the first booking stands; a fresh confirm page carries a new key for these choices.
        choices = urlencode({"qty": qty, "method": method, "address": address or ""})
        return render_problem(
            request,
            exc.status,
            exc.slug,
            advice=REBOOK,
            again=f"/shop/offers/{quote(offer_id, safe='')}/confirm?{choices}",
        )
    return see(f"/shop/orders/{order_id}")


async def _order_reads(
    runtime: Runtime, order_id: str, shopper: Shopper
) -> tuple[commerce.OrderView, list[Any]]:
    """The order and its payments. The order page is the busiest page after the list: on
    PostgreSQL two statements on one asyncpg connection, no ORM and no transaction
    (commerce.views_pg says why); the session's plain path otherwise."""
    if runtime.drivers is not None:

        async def read(pg: Any) -> tuple[commerce.OrderView, list[Any]]:
            view = await commerce.order_view_on(pg, order_id, shopper.id)
            return view, list(await payments.payment_lines_on(pg, view.id))

        return await runtime.drivers.read(read)
    async with runtime.sessions() as session:
        view = await commerce.order_view(session, order_id, shopper.principal)
        return view, list(await payments.payments_for_order(session, view.id))


async def _shipments(runtime: Runtime, order: commerce.OrderView) -> list[Any]:
    """Only a paid order ships: an unpaid one's page skips the lookups."""
    if order.status in (*HOLDING, "expired"):
        return []
    async with runtime.sessions() as session:
        return list(await fulfillment.order_shipments(session, order.id))


@get("/orders/{order_id:str}", include_in_schema=False)
async def order_page(
    request: Req, services: PortsDep, shopper: ShopperDep, order_id: FromPath[str]
) -> Any:
    runtime = services.runtime
    now = runtime.clock.now()
    order, paid = await _order_reads(runtime, order_id, shopper)
    holding = order.status in HOLDING and order.hold_expires_at > now
    return shop_page(
        request,
        "order.html",
        step=3 if holding else 4 if order.status in CHECKED_OUT else None,
        key=new_key(),
        now=now,
        pin_wrong=request.query_params.get("pin") == "wrong",
        order=order,
        payments=paid,
        shipments=await _shipments(runtime, order),
        holding=holding,
        cancellable=commerce.can_transition(
            commerce.OrderStatus(order.status), commerce.OrderStatus.CANCELLED
        ),
        qr=eticket_svg(runtime.settings.secret_key, order)
        if order.status in SHOWS_TICKET and order.delivery_method == "e_ticket"
        else None,
    )


@get("/orders", include_in_schema=False)
async def my_orders(
    request: Req, services: PortsDep, session: SessionDep, shopper: ShopperDep
) -> Any:
    listed = await commerce.list_orders(session, shopper.principal, limit=30)
    return shop_page(request, "orders.html", orders=listed.items)


@post("/orders/{order_id:str}/cancel", include_in_schema=False)
async def cancel(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    order_id: FromPath[str],
) -> Any:
    form = await request.form()
    key = key_of(form)
    runtime = services.runtime

    async def work() -> str:
        done = await commerce.cancel_order(
            session,
            order_id,
            shopper.principal,
            reason="cancelled by the customer in the web shop",
            now=runtime.clock.now(),
        )
        return done.id

    await patiently(
        lambda: once_in(
            runtime,
            session,
            key=key,
            scope=f"web.shop.orders.cancel:{shopper.principal.actor}",
            payload={"order": order_id},
            work=work,
        )
    )
    return see(f"/shop/orders/{order_id}")


ROUTES = [confirm, place, order_page, my_orders, cancel]
