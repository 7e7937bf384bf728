"""Tickets in the console: the desk (my tickets, escalations, follow-ups due today), the
queue with filters, one ticket (timeline, reply, internal note, transitions the state
machine offers, assignment) and a complaint opened from the call. Rules are ticketing's."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import auth
import commerce
import ticketing
from core.errors import DomainError, ValidationFailed
from web.access import MeDep
from web.pages import page
from web.ports import PortsDep, SessionDep
from web.replies import go

Req = Request[Any, Any, Any]
OPEN = ("new", "open", "pending_customer", "pending_partner", "reopened")


def end_of_today(services: PortsDep) -> datetime:
    zone = services.runtime.settings.zone
    local = services.runtime.clock.now().astimezone(zone)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)


async def _rows(
    session: SessionDep, me: MeDep, tickets: list[Any], now: datetime
) -> list[dict[str, Any]]:
    return await ticketing.ticket_summaries(session, tickets, now)


async def names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Display names of agents (and customers) for a page's rows, in one query each."""
    ids = {i for i in ids if i}
    if not ids:
        return {}
    out = {
        a.id: a.display_name
        for a in await session.scalars(select(auth.Agent).where(auth.Agent.id.in_(ids)))
    }
    for c in await session.scalars(
        select(auth.Customer).where(auth.Customer.id.in_(ids - out.keys()))
    ):
        out[c.id] = c.name or c.phone
    return out


async def desk_context(session: AsyncSession, services: PortsDep, me: MeDep) -> dict[str, Any]:
    now = services.runtime.clock.now()
    mine = await ticketing.list_tickets(session, me.principal, assignee=me.id, now=now, limit=50)
    rows = await _rows(session, me, [t for t in mine.items if t.status in OPEN], now)
    inbox = await ticketing.list_notifications(session, me.principal, unread=True, limit=20)
    due = await ticketing.followups_due(session, me.id, until=end_of_today(services))
    return {
        "tickets": rows,
        "inbox": inbox.items,
        "followups": due,
        "now": now,
        "names": await names(session, {r["customer_id"] for r in rows}),
    }


@get("/console/inbox", include_in_schema=False)
async def inbox(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    """The inbox panel alone (refreshed when the live stream says an escalation arrived)."""
    found = await ticketing.list_notifications(session, me.principal, unread=True, limit=20)
    return page(request, "console/partials/inbox.html", inbox=found.items)


@post("/console/notifications/{notification_id:str}/read", include_in_schema=False)
async def read(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, notification_id: FromPath[str]
) -> Any:
    n = await ticketing.mark_read(
        session, me.principal, notification_id, now=services.runtime.clock.now()
    )
    return go(request, f"/console/tickets/{n['ticket_id']}")


@get("/console/tickets", include_in_schema=False)
async def queue(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    view: FromQuery[str] = "mine",
    status: FromQuery[str] = "",
    queue: FromQuery[str] = "",
    breached: FromQuery[str] = "",
) -> Any:
    now = services.runtime.clock.now()
    try:
        found = await ticketing.list_tickets(
            session,
            me.principal,
            status=status or None,
            queue=queue or None,
            assignee=me.id if view == "mine" else None,
            breached={"yes": True, "no": False}.get(breached),
            now=now,
            limit=100,
        )
        error = None
    except DomainError as exc:
        found, error = None, exc.detail
    tickets = [] if found is None else [t for t in found.items if status or t.status in OPEN]
    rows = await _rows(session, me, tickets, now)
    return page(
        request,
        "console/tickets.html",
        rows=rows,
        view=view,
        status=status,
        queue=queue,
        breached=breached,
        error=error,
        statuses=[s.value for s in ticketing.Status],
        names=await names(
            session, {r["customer_id"] for r in rows} | {r["assignee_id"] for r in rows}
        ),
    )


async def ticket_page(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    me: MeDep,
    ticket_id: str,
    **extra: Any,
) -> Any:
    now = services.runtime.clock.now()
    t = await ticketing.get_for(session, ticket_id, me.principal)
    view = await ticketing.ticket_view(session, t, me.principal, now)
    moves = sorted(s.value for s in ticketing.TRANSITIONS[ticketing.Status(t.status)])
    actors = {e["actor"] for e in view["timeline"]} | {c["author"] for c in view["comments"]}
    who = await names(
        session, {t.customer_id, t.assignee_id or ""} | {a.partition(":")[2] for a in actors}
    )
    for order_id in view.get("order_ids") or []:  # order ids read as their numbers
        who[order_id] = (await commerce.get_order(session, order_id)).number
    for a in actors:  # "agent:<id>" -> the agent's name; "system:..." stays as it is
        ident = a.partition(":")[2]
        if ident in who:
            who[a] = who[ident]
    return page(request, "console/ticket.html", t=view, moves=moves, names=who, now=now, **extra)


@get("/console/tickets/{ticket_id:str}", include_in_schema=False)
async def ticket(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, ticket_id: FromPath[str]
) -> Any:
    return await ticket_page(request, services, session, me, ticket_id)


@post("/console/tickets/{ticket_id:str}/comments", include_in_schema=False)
async def comment(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, ticket_id: FromPath[str]
) -> Any:
    form = await request.form()
    await ticketing.add_comment(
        session,
        ticket_id,
        me.principal,
        body=str(form.get("body", "")),
        public=form.get("public") == "1",
        now=services.runtime.clock.now(),
    )
    return go(request, f"/console/tickets/{ticket_id}")


@post("/console/tickets/{ticket_id:str}/transition", include_in_schema=False)
async def move(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, ticket_id: FromPath[str]
) -> Any:
    form = await request.form()
    await ticketing.transition(
        session,
        ticket_id,
        me.principal,
        to=str(form.get("to", "")),
        now=services.runtime.clock.now(),
        reason=str(form.get("reason", "")).strip() or None,
        sms=services.sms,
    )
    return go(request, f"/console/tickets/{ticket_id}")


@post("/console/tickets/{ticket_id:str}/assign", include_in_schema=False)
async def assign(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, ticket_id: FromPath[str]
) -> Any:
    """Take the ticket, or give it back to its queue's automatic assignment."""
    form = await request.form()
    to_me = form.get("who") == "me"
    await ticketing.assign(
        session,
        ticket_id,
        me.principal,
        agent_id=me.id if to_me else None,
        queue=None,
        now=services.runtime.clock.now(),
    )
    return go(request, f"/console/tickets/{ticket_id}")


@post("/console/customers/{customer_id:str}/complaints", include_in_schema=False)
async def complaint(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, customer_id: FromPath[str]
) -> Any:
    """A complaint from the call, on one of the caller's orders, with category and priority."""
    form = await request.form()
    order_id = str(form.get("order_id") or "") or None
    if order_id is None:
        raise ValidationFailed.field("order_id", "pick the order the complaint is about")
    t = await ticketing.open_ticket(
        session,
        me.principal,
        now=services.runtime.clock.now(),
        category=str(form.get("category", "")),
        priority=str(form.get("priority", "normal")),
        subject=str(form.get("subject", "")),
        description=str(form.get("description", "")),
        channel="phone",
        customer_id=customer_id,
        order_ids=[order_id],
    )
    return page(request, "console/partials/complaint_done.html", ticket=t)


@post("/console/customers/{customer_id:str}/wrap-up", include_in_schema=False)
async def wrap_up(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, customer_id: FromPath[str]
) -> Any:
    """The wrap-up note at the end of the call, kept on the caller's record."""
    form = await request.form()
    await auth.get_customer(session, customer_id)
    await ticketing.add_call_note(
        session,
        me.principal,
        customer_id=customer_id,
        body=str(form.get("note", "")),
        now=services.runtime.clock.now(),
    )
    notes = await ticketing.call_notes_for(session, customer_id)
    who = await names(session, {n.agent_id for n in notes})
    return page(
        request,
        "console/partials/wrap_up.html",
        notes=notes,
        names=who,
        customer_id=customer_id,
        saved=True,
    )


ROUTES = [inbox, read, queue, ticket, comment, move, assign, complaint, wrap_up]
