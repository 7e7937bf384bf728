"""What a principal sees of a ticket: customers get public comments and public timeline only."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.drivers import as_rows
from core.principal import Principal

from .domain import ClockState
from .followup import followups_of
from .models import (
    ClockSegment,
    Ticket,
    TicketComment,
    TicketEvent,
    TicketOrder,
    TicketQueue,
    TicketRefund,
)
from .timeline import ClockEvent, clock_events, states


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


def clock_view(st: ClockState) -> dict[str, Any]:
    return {
        "target_business_seconds": st.target_seconds,
        "started": st.started,
        "running": st.running,
        "paused": st.paused,
        "stopped": st.stopped,
        "due_at": _iso(st.due_at),
        "remaining_business_seconds": st.remaining_business_seconds,
        "elapsed_business_seconds": st.elapsed_business_seconds,
        "breached_at": _iso(st.breached_at),
    }


async def ticket_view(
    session: AsyncSession, ticket: Ticket, principal: Principal, now: datetime, *, full: bool = True
) -> dict[str, Any]:
    queue = await session.get(TicketQueue, ticket.queue_id)
    out = ticket_summary(
        ticket, await clock_events(session, ticket.id), queue.code if queue else None, now
    )
    if not full:
        return out
    return await _details(session, ticket, principal, out)


async def ticket_summaries(
    session: AsyncSession, tickets: list[Ticket], now: datetime
) -> list[dict[str, Any]]:
    """`ticket_view(..., full=False)` of each ticket, in two queries for the lot instead of two
    per ticket: a page listing tickets with their SLA clocks (the caller's record, the desk)
    spent a fifth of its time on those round trips (bench/console.py)."""
    if not tickets:
        return []
    ids = [t.id for t in tickets]
    events: dict[str, list[ClockEvent]] = {i: [] for i in ids}
    for r in (
        await session.execute(
            select(
                ClockSegment.ticket_id,
                ClockSegment.clock,
                ClockSegment.kind,
                ClockSegment.at,
                ClockSegment.seq,
            )
            .where(ClockSegment.ticket_id.in_(ids))
            .order_by(ClockSegment.at, ClockSegment.seq)
        )
    ).all():
        events[r.ticket_id].append(ClockEvent(r.clock, r.kind, r.at, r.seq))
    queue_ids = {t.queue_id for t in tickets}
    codes = dict(
        (
            await session.execute(
                select(TicketQueue.id, TicketQueue.code).where(TicketQueue.id.in_(queue_ids))
            )
        ).all()
    )
    return [ticket_summary(t, events[t.id], codes.get(t.queue_id), now) for t in tickets]


_CUSTOMER_TICKETS = (  # what `ticket_summary` reads of a ticket, its queue's code, its clock events
    "SELECT t.id, t.number, t.status, t.category, t.priority, t.channel, t.customer_id,"
    " t.queue_id, t.assignee_id, t.subject, t.description, t.reopen_count, t.satisfaction,"
    " t.policy, t.calendar, t.created_at, t.first_responded_at, t.resolved_at, t.closed_at,"
    " q.code AS queue_code, ARRAY(SELECT ROW(e.clock, e.kind, e.at, e.seq)"
    " FROM ticket_clock_events e WHERE e.ticket_id = t.id ORDER BY e.at, e.seq) AS clock_events"
    " FROM tickets t LEFT JOIN ticket_queues q ON q.id = t.queue_id"
    " WHERE t.customer_id = $1 ORDER BY t.created_at DESC, t.id DESC LIMIT $2"
)


async def customer_tickets_on(
    driver: Any, customer_id: str, now: datetime, *, limit: int
) -> list[tuple[Any, dict[str, Any]]]:
    """The customer's own first page of `list_tickets`, each with its `ticket_summaries`
    view, on an asyncpg connection (core.drivers) in one statement: the tickets with their
    queue's code and clock events. Tickets are rows read by attribute; the caller's record
    reads them on every open."""
    out = []
    for t in as_rows(await driver.fetch(_CUSTOMER_TICKETS, customer_id, limit)):
        events = [ClockEvent(*e) for e in t.clock_events]
        # JSON columns: asyncpg hands over the text
        t.policy, t.calendar = json.loads(t.policy), json.loads(t.calendar)
        out.append((t, ticket_summary(cast(Ticket, t), events, t.queue_code, now)))
    return out


def new_ticket_view(
    ticket: Ticket,
    sts: dict[str, ClockState],
    queue: str,
    created: TicketEvent,
    now: datetime,
) -> dict[str, Any]:
    """What `ticket_view` shows its customer of a ticket just opened (ticketing/opening_pg.py),
    from memory (its clocks' states at `now` already computed): no orders, no comments, one
    public `created` timeline row."""
    out = ticket_summary(ticket, [], queue, now, sts)
    out["order_ids"] = []
    out["comments"] = []
    out["timeline"] = [_event_view(created)]
    return out


def _event_view(e: TicketEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "kind": e.kind,
        "actor": e.actor,
        "channel": e.channel,
        "before": e.before,
        "after": e.after,
        "at": _iso(e.at),
    }


def ticket_summary(
    ticket: Ticket,
    events: list[ClockEvent],
    queue: str | None,
    now: datetime,
    sts: dict[str, ClockState] | None = None,
) -> dict[str, Any]:
    if sts is None:
        sts = states(ticket, events, now)
    return {
        "id": ticket.id,
        "number": ticket.number,
        "status": ticket.status,
        "category": ticket.category,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "customer_id": ticket.customer_id,
        "queue": queue,
        "assignee_id": ticket.assignee_id,
        "subject": ticket.subject,
        "description": ticket.description,
        "reopen_count": ticket.reopen_count,
        "satisfaction": ticket.satisfaction,
        "created_at": _iso(ticket.created_at),
        "first_responded_at": _iso(ticket.first_responded_at),
        "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "sla": {name: clock_view(st) for name, st in sts.items()},
    }


async def _details(
    session: AsyncSession, ticket: Ticket, principal: Principal, out: dict[str, Any]
) -> dict[str, Any]:
    public_only = principal.is_customer
    out["order_ids"] = list(
        (
            await session.execute(
                select(TicketOrder.order_id).where(TicketOrder.ticket_id == ticket.id)
            )
        ).scalars()
    )
    cq = select(TicketComment).where(TicketComment.ticket_id == ticket.id)
    eq = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    if public_only:
        cq = cq.where(TicketComment.public.is_(True))
        eq = eq.where(TicketEvent.public.is_(True))
    out["comments"] = [
        {
            "id": c.id,
            "author": c.author,
            "body": c.body,
            "public": c.public,
            "created_at": _iso(c.created_at),
        }
        for c in (await session.execute(cq.order_by(TicketComment.created_at))).scalars()
    ]
    out["timeline"] = [
        _event_view(e) for e in (await session.execute(eq.order_by(TicketEvent.seq))).scalars()
    ]
    if not public_only:
        out["policy"] = ticket.policy
        out["calendar"] = ticket.calendar
        out["followups"] = [
            {
                "id": f.id,
                "status": f.status,
                "due_at": _iso(f.due_at),
                "agent_id": f.agent_id,
                "attempts": f.attempts,
            }
            for f in await followups_of(session, ticket.id)
        ]
        out["refunds"] = [
            r.refund_id
            for r in (
                await session.execute(
                    select(TicketRefund).where(TicketRefund.ticket_id == ticket.id)
                )
            ).scalars()
        ]
    return out
