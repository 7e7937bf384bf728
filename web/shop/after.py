"""After the purchase: a complaint about an order opens a ticket (ticketing's `open_ticket`,
as POST /v1/tickets does for a customer), the customer follows its public replies and answers
them; and the account: language, PIN change, the SMS opt-out switch."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath

import auth
import commerce
import ticketing
from core.errors import DomainError
from core.sms import is_opted_out, set_opted_out
from web.i18n import LANG_COOKIE, LANGUAGES
from web.once import key_of, new_key, once_in
from web.ports import PortsDep, SessionDep
from web.shop.access import ShopperDep
from web.shop.orders import patiently
from web.shop.render import see, shop_page

Req = Request[Any, Any, Any]
CATEGORIES = ("delivery", "billing", "payment", "product", "service", "other")


@get("/orders/{order_id:str}/complaint", include_in_schema=False)
async def complaint_form(
    request: Req, session: SessionDep, shopper: ShopperDep, order_id: FromPath[str]
) -> Any:
    order = await commerce.get_order_for(session, order_id, shopper.principal)
    return shop_page(request, "complaint.html", order=order, categories=CATEGORIES, key=new_key())


@post("/orders/{order_id:str}/complaint", include_in_schema=False)
async def complain(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    order_id: FromPath[str],
) -> Any:
    form = await request.form()
    key = key_of(form)
    runtime = services.runtime
    order = await commerce.get_order_for(session, order_id, shopper.principal)
    category = str(form.get("category", "other"))
    description = str(form.get("description", "")).strip()
    subject = f"{order.number}: " + (description.splitlines()[0][:80] if description else "")

    async def work() -> str:
        t = await ticketing.open_ticket(
            session,
            shopper.principal,
            now=runtime.clock.now(),
            category=category,
            subject=subject,
            description=description,
            channel="web",
            order_ids=[order.id],
        )
        return t.id

    ticket_id = await patiently(
        lambda: once_in(
            runtime,
            session,
            key=key,
            scope=f"web.shop.tickets.create:{shopper.principal.actor}",
            payload={"order": order.id, "category": category, "description": description},
            work=work,
        )
    )
    return see(f"/shop/tickets/{ticket_id}")


@get("/tickets/{ticket_id:str}", include_in_schema=False)
async def ticket(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    ticket_id: FromPath[str],
) -> Any:
    found = await ticketing.get_for(session, ticket_id, shopper.principal)
    view = await ticketing.ticket_view(
        session, found, shopper.principal, services.runtime.clock.now()
    )
    return shop_page(request, "ticket.html", t=view, me_actor=shopper.principal.actor)


@post("/tickets/{ticket_id:str}/replies", include_in_schema=False)
async def reply(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    ticket_id: FromPath[str],
) -> Any:
    form = await request.form()
    await ticketing.add_comment(
        session,
        ticket_id,
        shopper.principal,
        body=str(form.get("body", "")),
        public=True,
        now=services.runtime.clock.now(),
    )
    return see(f"/shop/tickets/{ticket_id}#replies")


@get("/tickets", include_in_schema=False)
async def tickets(
    request: Req, services: PortsDep, session: SessionDep, shopper: ShopperDep
) -> Any:
    listed = await ticketing.list_tickets(
        session, shopper.principal, now=services.runtime.clock.now(), limit=30
    )
    return shop_page(request, "tickets.html", tickets=listed.items)


async def _account_page(
    request: Req, session: SessionDep, shopper: ShopperDep, **context: Any
) -> Any:
    customer = await auth.get_customer(session, shopper.id)
    # The switch reads the same record the SMS channel's STOP/START write (core.sms).
    sms_off = await is_opted_out(session, customer.phone)
    return shop_page(request, "account.html", account=customer, sms_off=sms_off, **context)


@get("/account", include_in_schema=False)
async def account(request: Req, session: SessionDep, shopper: ShopperDep) -> Any:
    return await _account_page(request, session, shopper, saved=request.query_params.get("saved"))


@post("/account/sms", include_in_schema=False)
async def account_sms(
    request: Req, services: PortsDep, session: SessionDep, shopper: ShopperDep
) -> Any:
    """The SMS opt-out switch: `marketing=on` receives survey and marketing texts, anything
    else (an unticked box sends nothing) refuses them, as texting STOP/TD/退订 does."""
    form = await request.form()
    customer = await auth.get_customer(session, shopper.id)
    wanted = str(form.get("marketing", "")) == "on"
    await set_opted_out(session, customer.phone, not wanted, services.runtime.clock.now())
    return see("/shop/account?saved=sms")


@post("/account/language", include_in_schema=False)
async def account_language(request: Req, session: SessionDep, shopper: ShopperDep) -> Any:
    """The customer's language for SMS and pages, and this browser's at once."""
    form = await request.form()
    lang = str(form.get("lang", ""))
    await auth.set_customer_language(session, shopper.id, lang)
    response = see("/shop/account?saved=language")
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


@post("/account/pin", include_in_schema=False)
async def account_pin(
    request: Req, services: PortsDep, session: SessionDep, shopper: ShopperDep
) -> Any:
    """A new PIN signs out every other session and token (auth raises the token version);
    this session follows the new version so the customer stays signed in here."""
    form = await request.form()
    new, again = str(form.get("new_pin", "")), str(form.get("new_pin2", ""))
    customer = await auth.get_customer(session, shopper.id)
    error = "differ" if new != again else None
    if error is None:
        try:
            customer = await auth.change_own_pin(
                services.runtime,
                session,
                shopper.id,
                str(form.get("current_pin", "")),
                new,
                gate=services.throttle,
                address=request.client.host if request.client else "unknown",
            )
        except DomainError as exc:
            await session.rollback()
            if exc.slug in ("throttled", "account-locked"):
                raise
            error = "invalid" if exc.slug == "validation-error" else "wrong"
    if error is not None:
        return await _account_page(request, session, shopper, status_code=422, pin_error=error)
    data = request.scope.get("session")
    if isinstance(data, dict):
        data["tv"] = customer.token_version
    return see("/shop/account?saved=pin")


ROUTES = [
    complaint_form,
    complain,
    ticket,
    reply,
    tickets,
    account,
    account_language,
    account_pin,
    account_sms,
]
