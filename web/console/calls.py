"""A call from ring to record: the screen pop a softphone opens, the caller's record (the
customer 360), search, a new customer, and the PIN check that unlocks booking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy import select

import auth
import commerce
import ticketing
from core.errors import DomainError, NotFound, Throttled, ValidationFailed
from web.access import MeDep
from web.console import handoff
from web.console.caller import load_caller, load_caller_on, read_only
from web.console.tickets import desk_context, names
from web.pages import page
from web.ports import PortsDep, SessionDep
from web.replies import go
from web.words import field_errors

Req = Request[Any, Any, Any]
VERIFIED = "verified"  # session key: customer id -> {"id": verification id, "until": iso}


def _address(request: Req) -> str:
    return request.client.host if request.client else "unknown"


def verification(request: Req, customer_id: str, now: datetime) -> tuple[str, datetime] | None:
    """This session's unexpired check of the caller's PIN, if any."""
    found = (request.session.get(VERIFIED) or {}).get(customer_id)
    if not found:
        return None
    until = datetime.fromisoformat(found["until"])
    return (found["id"], until) if until > now else None


async def caller_page(
    request: Req,
    services: PortsDep,
    me: MeDep,
    customer_id: str,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Any:
    runtime = services.runtime
    now = runtime.clock.now()
    checked = verification(request, customer_id, now)
    until = checked[1] if checked else None
    if runtime.drivers is not None:  # the fast path (web/console/caller.py)
        caller = await runtime.drivers.read(
            lambda pg: load_caller_on(
                pg, me.principal, customer_id, sms=services.sms, verified_until=until, now=now
            )
        )
        who = {n.agent_id: n.agent_name for n in caller.notes if n.agent_name is not None}  # type: ignore[union-attr]
    else:
        async with read_only(runtime) as session:
            caller = await load_caller(
                session, me.principal, customer_id, sms=services.sms, verified_until=until, now=now
            )
            who = await names(session, {n.agent_id for n in caller.notes})
    extra.update(await _handoff(request, services, me, caller.customer, now))
    return page(
        request,
        "console/caller.html",
        names=who,
        status_code=status_code,
        caller=caller,
        now=now,
        live_query=extra.pop("live_query", ""),
        delivery_methods=("courier", "e_ticket"),
        categories=ticketing.CATEGORIES,
        priorities=ticketing.PRIORITIES,
        **extra,
    )


@get("/console/", include_in_schema=False)
async def desk(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    """The agent's start page: search, my open tickets, my escalations, follow-ups due."""
    return page(request, "console/desk.html", **await desk_context(session, services, me))


@get("/console/calls/new", include_in_schema=False)
async def screen_pop(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    """What the softphone opens when a call rings: the caller's record, or a new-customer form.
    `call_sid=` (a softphone's) or `from=` finds the IVR's live call, whose record then shows
    the hand-off (web/console/handoff.py)."""
    raw = request.query_params.get("from") or ""
    sid = str(request.query_params.get("call_sid") or "").strip()
    if sid:
        live = await handoff.live_call(session, call_sid=sid)
        if live is None and not raw:
            raise NotFound("that call is over or unknown")
        raw = live.call.from_phone if live is not None else raw
    try:
        phone = auth.phone_or_422(services.runtime, raw, "from")
    except ValidationFailed:
        return page(request, "console/new_customer.html", status_code=422, phone=raw, error="phone")
    found = await auth.find_customer_by_phone(session, phone)
    if found is None:
        return page(request, "console/new_customer.html", phone=phone, error=None)
    live = await handoff.live_call(session, call_sid=sid, phone="" if sid else phone)
    suffix = f"&call_sid={live.call.call_sid}" if live is not None else ""
    return go(request, f"/console/customers/{found.id}?call=1{suffix}")


async def _handoff(
    request: Req, services: PortsDep, me: MeDep, customer: Any, now: datetime
) -> dict[str, Any]:
    """The IVR's part of the record (web/console/handoff.py): read on a screen pop only."""
    sid = str(request.query_params.get("call_sid") or "")
    found = None
    if request.query_params.get("call") == "1" or sid:
        async with read_only(services.runtime) as session:
            found = await handoff.handoff_for(session, customer, me.id, now, call_sid=sid)
    return {"handoff": found, "by_keypad": handoff.keypad_checked(request, customer.id)}


@post("/console/customers", include_in_schema=False)
async def create_customer(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    form = await request.form()
    phone, name = str(form.get("phone", "")), str(form.get("name", "")).strip() or None
    locale = str(form.get("locale", "zh"))
    try:
        customer = await auth.create_customer(
            services.runtime, session, phone=phone, name=name, locale=locale
        )
    except DomainError as exc:
        # The heading fits the field at fault: a bad name is not "this number can't be used".
        fields = field_errors(exc.errors)
        phone_wrong = [f for f in exc.errors or [] if f.get("field") == "phone"]
        return page(
            request,
            "console/new_customer.html",
            status_code=exc.status,
            phone=phone,
            name=name,
            locale=locale,
            error="exists" if exc.status == 409 else "phone" if phone_wrong else "field",
            fields=fields,
        )
    return go(request, f"/console/customers/{customer.id}?call=1")


@get("/console/customers/{customer_id:str}", include_in_schema=False)
async def customer(request: Req, services: PortsDep, me: MeDep, customer_id: FromPath[str]) -> Any:
    on_call = request.query_params.get("call") == "1"
    return await caller_page(request, services, me, customer_id, on_call=on_call)


@post("/console/customers/{customer_id:str}/verify", include_in_schema=False)
async def verify(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, customer_id: FromPath[str]
) -> Any:
    """Check the PIN the caller reads out (auth's caller verification: throttled, audited);
    the badge shows the minutes the check stays good for."""
    form = await request.form()
    target = await auth.get_customer(session, customer_id)
    error: str | None = None
    try:
        v = await auth.verify_caller(
            services.runtime,
            session,
            me.id,
            target.phone,
            str(form.get("pin", "")),
            gate=services.throttle,
            address=_address(request),
        )
    except Throttled:
        error = "throttled"
    except DomainError:
        error = "wrong"
    else:
        checked = dict(request.session.get(VERIFIED) or {})
        checked[customer_id] = {"id": v.id, "until": v.expires_at.isoformat()}
        request.session[VERIFIED] = checked
    now = services.runtime.clock.now()
    found = verification(request, customer_id, now)
    return page(
        request,
        "console/partials/verify.html",
        customer=target,
        now=now,
        verified_until=found[1] if found else None,
        error=error,
        status_code=200 if error is None else (429 if error == "throttled" else 422),
    )


@post("/console/customers/{customer_id:str}/pin-code", include_in_schema=False)
async def pin_code(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, customer_id: FromPath[str]
) -> Any:
    """A caller without a PIN gets the one-time code by SMS to set one (auth's enrolment:
    the same throttle as `POST /v1/auth/enrollment`)."""
    target = await auth.get_customer(session, customer_id)
    await auth.send_code(
        services.runtime,
        session,
        target.phone,
        gate=services.throttle,
        sms=services.sms,
        address=_address(request),
    )
    return page(
        request,
        "console/partials/verify.html",
        customer=target,
        now=services.runtime.clock.now(),
        verified_until=None,
        error=None,
        code_sent=True,
    )


@get("/console/search", include_in_schema=False)
async def search(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, q: FromQuery[str] = ""
) -> Any:
    """One box for a phone, a name, an order number or a ticket number; one hit opens it."""
    q = q.strip()[:80]
    hits: list[dict[str, Any]] = []
    if q:
        hits = await _search(services, session, me, q)
    if len(hits) == 1:
        return go(request, hits[0]["url"])
    return page(request, "console/search.html", q=q, hits=hits)


async def _search(
    services: PortsDep, session: SessionDep, me: MeDep, q: str
) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = []
    try:
        phone = auth.phone_or_422(services.runtime, q)
    except ValidationFailed:
        phone = None
    if phone:
        found = await auth.find_customer_by_phone(session, phone)
        if found:
            hits.append(_customer_hit(found))
    if not hits and len(q) >= 2:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await session.scalars(
            select(auth.Customer)
            .where(auth.Customer.name.ilike(f"%{like}%", escape="\\"))
            .limit(20)
        )
        hits += [_customer_hit(c) for c in rows]
    try:
        orders = await commerce.list_orders(session, me.principal, number=q, limit=1)
    except DomainError:
        orders = None
    hits += (
        []
        if orders is None
        else [
            {
                "kind": "order",
                "label": o.number,
                "detail": o.status,
                "url": f"/console/customers/{o.customer_id}#order-{o.id}",
            }
            for o in orders.items
        ]
    )
    try:
        t = await ticketing.find_by_number(session, q)
        hits.append(
            {
                "kind": "ticket",
                "label": t.number,
                "detail": t.subject,
                "url": f"/console/tickets/{t.id}",
            }
        )
    except (NotFound, ValidationFailed):
        pass
    return hits


def _customer_hit(c: auth.Customer) -> dict[str, Any]:
    return {
        "kind": "customer",
        "label": c.name or c.phone,
        "detail": c.phone,
        "url": f"/console/customers/{c.id}",
    }


ROUTES = [desk, screen_pop, create_customer, customer, verify, pin_code, search]
