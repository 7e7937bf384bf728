"""Booking on the call: find the offer, say the price with its fees, place the order for the
verified caller, take the payment (phone account now, or a pay link by SMS), cancel, and for
supervisors refund. Every rule is the rooms': this module only reads forms and shows pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy.ext.asyncio import AsyncSession

import auth
import commerce
import payments
import ticketing
from core.errors import DomainError, ValidationFailed
from core.money import Money
from web.access import MeDep
from web.console.caller import order_row
from web.console.calls import verification
from web.forms import delivery_method, quantity, search_day
from web.once import key_of, new_key, once_committed, once_in
from web.pages import page
from web.ports import PortsDep, SessionDep

Req = Request[Any, Any, Any]
PARTIAL = "console/partials/"
PAYMENT = "payment_method"  # the pay form's field as its errors name it (web/words.py)


@get("/console/customers/{customer_id:str}/offers", include_in_schema=False)
async def offers(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    customer_id: FromPath[str],
    q: FromQuery[str] = "",
    kind: FromQuery[str] = "",
    on: FromQuery[str] = "",
) -> Any:
    """Active search: spoken code, title, kind and date (local); a date that is none is the
    shop's 422, not a search without it."""
    runtime = services.runtime
    day = search_day(on)
    page_ = await commerce.search_offers(
        session,
        now=runtime.clock.now(),
        zone=runtime.settings.zone,
        kind=kind or None,
        q=q.strip()[:100] or None,
        on=day,
        limit=10,
    )
    return page(request, PARTIAL + "offers.html", offers=page_.items, customer_id=customer_id)


@get("/console/customers/{customer_id:str}/quote", include_in_schema=False)
async def quote(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    customer_id: FromPath[str],
) -> Any:
    """The booking form for one offer with the price it will cost: lines, booking fee,
    delivery fee, total (commerce's pricing), before anything is held."""
    params = request.query_params
    offer = await commerce.get_offer(session, str(params.get("offer", "")))
    qty = quantity(params.get("qty") or 1)
    method = delivery_method(params.get("method"), "courier")
    s = services.runtime.settings
    price = commerce.price_order(
        [commerce.PricedLine(offer.id, qty, Money(offer.price_amount, offer.currency))],
        method=commerce.DeliveryMethod(method),
        booking_fee=s.booking_fee,
        courier_fee=s.courier_fee,
        eticket_fee=s.eticket_fee,
        currency=offer.currency,
    )
    now = services.runtime.clock.now()
    return page(
        request,
        PARTIAL + "quote.html",
        offer=offer,
        qty=qty,
        method=method,
        price=price,
        address=str(params.get("address") or ""),
        customer_id=customer_id,
        key=new_key(),
        verified=verification(request, customer_id, now) is not None,
    )


@post("/console/customers/{customer_id:str}/orders", include_in_schema=False)
async def place(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    customer_id: FromPath[str],
) -> Any:
    """Place the order for the caller this agent verified (auth's check, as the API's)."""
    form = await request.form()
    runtime, now = services.runtime, services.runtime.clock.now()
    commerce.check_order_staff(me.principal)
    key = key_of(form)
    offer_id = str(form.get("offer_id", ""))
    qty = quantity(form.get("qty"))
    method = delivery_method(form.get("method"))
    address = str(form.get("address", "")).strip() or None
    checked = verification(request, customer_id, now)
    await auth.check_verification(
        session, checked[0] if checked else "", customer_id=customer_id, agent_id=me.id, now=now
    )
    await auth.get_customer(session, customer_id)

    async def work(respond: Any) -> str:
        placed = await services.placement.place(
            customer_id=customer_id,
            lines=[commerce.LineRequest(offer_id, qty)],
            delivery_method=method,
            delivery_address=address,
            actor=me.principal.actor,
            channel="phone",
            now=now,
            respond=lambda order: respond(order.id),
        )
        return str(placed.id)

    payload = {"offer": offer_id, "qty": qty, "method": method, "address": address}
    order_id = await once_committed(
        runtime,
        session,
        key=key,
        scope=f"web.orders.create:{me.principal.actor}",
        payload=payload,
        work=work,
    )
    return await order_panel(request, services, session, me, order_id, placed=True)


async def order_panel(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    order_id: str,
    *,
    template: str = "order.html",
    **extra: Any,
) -> Any:
    """The order with what can be done to it now (a fresh Idempotency-Key per form)."""
    order = await commerce.get_order_for(session, order_id, me.principal)
    return page(
        request,
        PARTIAL + template,
        headers={"HX-Trigger": "order-changed"},  # the caller's history and balance refresh
        row=await order_row(session, order),
        key=new_key(),
        tickets=await _open_ticket_choices(session, order.customer_id, services),
        **extra,
    )


async def _open_ticket_choices(
    session: AsyncSession, customer_id: str, services: PortsDep
) -> list[Any]:
    from core.principal import Principal

    listed = await ticketing.list_tickets(
        session, Principal("customer", customer_id), now=services.runtime.clock.now(), limit=10
    )
    return [t for t in listed.items if t.status not in ("resolved", "closed")]


@get("/console/orders/{order_id:str}", include_in_schema=False)
async def order(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, order_id: FromPath[str]
) -> Any:
    commerce.check_order_staff(me.principal)
    return await order_panel(request, services, session, me, order_id)


@post("/console/orders/{order_id:str}/pay", include_in_schema=False)
async def pay(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, order_id: FromPath[str]
) -> Any:
    """`carrier_billing`: charged to the phone account now; `card`: a pay link sent by SMS.
    Either way the order panel then waits, live, for `paid`.

    Charging the phone account needs this agent's unexpired PIN check of the order's customer,
    as placing the order does: the agent may have the record of someone other than the
    verified caller open. A pay link goes to the account's own phone, so it needs none."""
    form = await request.form()
    key, method = key_of(form), str(form.get("method", ""))
    runtime = services.runtime

    async def work() -> str:
        if method == "carrier_billing":
            await _check_caller(request, session, me, order_id, runtime.clock.now())
        p = await payments.start_payment(
            session,
            services.payments,
            order_id,
            method,
            principal=me.principal,
            request_key=key,
            now=runtime.clock.now(),
        )
        return p.id

    try:
        await once_in(
            runtime,
            session,
            key=key,
            scope=f"web.payments.create:{order_id}:{me.id}",
            payload={"method": method},
            work=work,
        )
    except ValidationFailed as exc:  # payments' `method` is the payment's, not the delivery's
        named = exc.errors or []
        errors = [{**e, "field": PAYMENT} if e.get("field") == "method" else e for e in named]
        raise ValidationFailed(exc.detail, errors=errors) from None
    # Only the actions answer: the status turns `paid` when the fact arrives over SSE. What
    # is still running is read from the order's open payment (order_actions.html), not from
    # the click: a carrier charge is usually done by now, and "Charging…" would stay on screen.
    return await order_panel(
        request, services, session, me, order_id, template="order_actions.html"
    )


async def _check_caller(
    request: Req, session: AsyncSession, me: MeDep, order_id: str, now: datetime
) -> None:
    """403 `verification-required` unless this session verified the order's customer."""
    order = await commerce.get_order_for(session, order_id, me.principal)
    checked = verification(request, order.customer_id, now)
    await auth.check_verification(
        session, checked[0] if checked else "", customer_id=order.customer_id, agent_id=me.id,
        now=now,
    )  # fmt: skip


@get("/console/orders/{order_id:str}/actions", include_in_schema=False)
async def actions(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, order_id: FromPath[str]
) -> Any:
    commerce.check_order_staff(me.principal)
    return await order_panel(
        request, services, session, me, order_id, template="order_actions.html"
    )


@post("/console/orders/{order_id:str}/cancel", include_in_schema=False)
async def cancel(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, order_id: FromPath[str]
) -> Any:
    form = await request.form()
    key = key_of(form)
    reason = str(form.get("reason", "")).strip()
    runtime = services.runtime

    async def work() -> str:
        done = await commerce.cancel_order(
            session, order_id, me.principal, reason=reason, now=runtime.clock.now()
        )
        return done.id

    commerce.check_order_staff(me.principal)
    await once_in(
        runtime,
        session,
        key=key,
        scope=f"web.orders.cancel:{me.principal.actor}",
        payload={"order": order_id, "reason": reason},
        work=work,
    )
    return await order_panel(request, services, session, me, order_id, cancelled=True)


@post(
    "/console/orders/{order_id:str}/refund",
    include_in_schema=False,
    opt={"roles": ("supervisor", "finance")},
)
async def refund(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, order_id: FromPath[str]
) -> Any:
    """A supervisor's full refund with a reason, optionally noted on one of the caller's tickets."""
    form = await request.form()
    key = key_of(form)
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise ValidationFailed.field("reason", "say why the money goes back")
    ticket_id = str(form.get("ticket_id") or "") or None
    runtime = services.runtime

    async def work() -> str:
        if ticket_id is not None:
            await ticketing.check_refund_ticket(session, ticket_id, order_id)
        await session.commit()  # no transaction open while the gateway is asked
        r = await payments.refund_order(
            runtime.sessions,
            services.payments,
            order_id,
            None,
            reason=reason,
            ticket_id=ticket_id,
            actor=me.principal.actor,
            request_key=key,
            now=runtime.clock.now(),
        )
        if ticket_id is not None:
            await ticketing.note_refund(
                session,
                ticket_id,
                me.principal,
                refund_id=r.id,
                refunded_order_id=r.order_id,
                now=runtime.clock.now(),
            )
        return r.id

    await once_in(
        runtime,
        session,
        key=key,
        scope=f"web.payments.refund:{order_id}:{me.id}",
        payload={"reason": reason, "ticket": ticket_id},
        work=work,
    )
    return await order_panel(request, services, session, me, order_id, refunded=True)


ROUTES = [offers, quote, place, order, pay, actions, cancel, refund]
__all__ = ["ROUTES", "DomainError", "order_panel"]
