"""Ticket use cases: open, view, comment, transition, satisfaction. Clock events, timeline rows
and the status change are written in the caller's transaction (never committed here)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import commerce
from core.db import new_id
from core.errors import Forbidden, NotFound, ValidationFailed
from core.principal import Principal
from core.sms import SmsSender

from .calendar import Calendar, add_business_seconds
from .domain import (
    CATEGORIES,
    CHANNELS,
    CLOCKS,
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    PRIORITIES,
    RESOLUTION,
    START,
    STOP,
    ClockEvent,
    ClockState,
    Status,
    breach_moment,
    check_choice,
    check_transition,
    clock_cycle,
    clock_events_for_transition,
    clock_state,
    levels_reached,
    new_ticket_number,
    next_check,
    parse_status,
)
from .models import (
    BusinessCalendar,
    ClockSegment,
    Escalation,
    FollowUp,
    Ticket,
    TicketComment,
    TicketEvent,
    TicketOrder,
)
from .setup import policy_snapshot, queue_by_code, queue_for_category

TIMELINE_RETRIES = 5
SYSTEM_CHANNEL = "system"  # tickets the system opens (a failed shipment), never a client's
OPEN_STATES = ("new", "open", "pending_customer", "pending_partner", "reopened")


def ticket_calendar(ticket: Ticket) -> Calendar:
    return Calendar.from_snapshot(ticket.calendar)


async def _lock(session: AsyncSession, ticket_id: str) -> Ticket:
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    ).scalar_one_or_none()
    if ticket is None:
        raise NotFound("no such ticket")
    return ticket


async def record(
    session: AsyncSession,
    ticket: Ticket,
    kind: str,
    *,
    actor: str,
    channel: str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    public: bool = True,
) -> None:
    # max(seq) + 1 under the unique (ticket_id, seq) key. State changes hold the ticket lock,
    # but the escalation job writes without it: if its row collides with one a locked change
    # wrote meanwhile, the insert waits for that commit, fails, and takes the next number.
    for attempt in range(TIMELINE_RETRIES):
        seq = await session.scalar(
            select(func.coalesce(func.max(TicketEvent.seq), 0)).where(
                TicketEvent.ticket_id == ticket.id
            )
        )
        row = {
            "id": new_id(),
            "ticket_id": ticket.id,
            "seq": int(seq or 0) + 1,
            "kind": kind,
            "actor": actor,
            "channel": channel,
            "before": before,
            "after": after,
            "public": public,
            "at": now,
        }
        try:
            # A Core insert in a savepoint: a collision undoes only this row, never other
            # pending changes of the caller's unit of work.
            async with session.begin_nested():
                await session.execute(insert(TicketEvent), row)
            return
        except IntegrityError:
            if attempt == TIMELINE_RETRIES - 1:
                raise


async def clock_events(session: AsyncSession, ticket_id: str) -> list[ClockEvent]:
    rows = (
        await session.execute(
            select(ClockSegment)
            .where(ClockSegment.ticket_id == ticket_id)
            .order_by(ClockSegment.at, ClockSegment.seq)
        )
    ).scalars()
    return [ClockEvent(r.clock, r.kind, r.at, r.seq) for r in rows]


async def fired_levels(session: AsyncSession, ticket_id: str) -> set[tuple[str, int, str]]:
    """(clock, cycle, level) already escalated on this ticket."""
    rows = await session.execute(
        select(Escalation.clock, Escalation.cycle, Escalation.level).where(
            Escalation.ticket_id == ticket_id
        )
    )
    return {(c, int(n), lv) for c, n, lv in rows.all()}


def states(ticket: Ticket, events: list[ClockEvent], now: datetime) -> dict[str, ClockState]:
    cal = ticket_calendar(ticket)
    return {c: clock_state(cal, c, int(ticket.policy[c]), events, now) for c in CLOCKS}


async def append_clock(session: AsyncSession, ticket: Ticket, events: list[ClockEvent]) -> None:
    """Append clock events and recompute when the escalation job should next look.

    Callers hold the ticket's row lock (or just created it), so max(seq) + 1 cannot race; the
    unique (ticket_id, seq) key would refuse it if it did.
    """
    last = await session.scalar(
        select(func.coalesce(func.max(ClockSegment.seq), 0)).where(
            ClockSegment.ticket_id == ticket.id
        )
    )
    for n, e in enumerate(events, start=int(last or 0) + 1):
        session.add(ClockSegment(ticket_id=ticket.id, seq=n, clock=e.clock, kind=e.kind, at=e.at))
    await session.flush()
    now = max((e.at for e in events), default=ticket.updated_at)
    stored = await clock_events(session, ticket.id)
    sts = states(ticket, stored, now)
    cal = ticket_calendar(ticket)
    moments = [m for m in (next_check(cal, s) for s in sts.values()) if m is not None]
    reached = {
        (c, clock_cycle(stored, c, now), lv)
        for c, s in sts.items()
        if not s.stopped
        for lv in levels_reached(s)
    }
    if reached and reached - await fired_levels(session, ticket.id):
        moments.append(now)  # a level crossed just before a pause still fires at the next pass
    ticket.check_at = min(moments) if moments else None
    ticket.breach_at = breach_moment(list(sts.values()))


async def open_ticket(
    session: AsyncSession,
    principal: Principal,
    *,
    now: datetime,
    category: str,
    subject: str,
    description: str,
    priority: str = "normal",
    channel: str | None = None,
    customer_id: str | None = None,
    order_ids: list[str] | None = None,
    queue: str | None = None,
    source_key: str | None = None,
    created_by: str | None = None,
) -> Ticket:
    """Open a ticket. `source_key` marks one the system opens for a fact (ticketing.intake):
    unique, channel `system`, and its customer is the order's, not someone's claim."""
    check_choice("category", category, CATEGORIES)
    check_choice("priority", priority, PRIORITIES)
    channels = (*CHANNELS, SYSTEM_CHANNEL) if source_key else CHANNELS
    channel = check_choice("channel", channel or principal.channel, channels)
    subject, description = (subject or "").strip(), (description or "").strip()
    if not 1 <= len(subject) <= 200:
        raise ValidationFailed.field("subject", "1 to 200 characters")
    if not 1 <= len(description) <= 10_000:
        raise ValidationFailed.field("description", "1 to 10000 characters")
    if principal.is_customer:
        if customer_id not in (None, principal.id):
            raise Forbidden("customers open tickets for themselves")
        customer_id = principal.id
    elif not customer_id:
        raise ValidationFailed.field("customer_id", "required when an agent opens a ticket")
    elif source_key is None:  # a system ticket's customer is its order's, even if since gone
        await _check_customer(session, customer_id)
    orders = []
    for oid in dict.fromkeys(order_ids or []):
        try:
            order = await commerce.get_order(session, oid)
        except NotFound:
            order = None
        if order is None or order.customer_id != customer_id:
            raise ValidationFailed.field("order_id", "no such order for this customer")
        orders.append(order.id)
    q = (
        await queue_by_code(session, queue)
        if queue
        else await queue_for_category(session, category, now)
    )
    cal_row = await session.get(BusinessCalendar, q.calendar_id)
    assert cal_row is not None
    policy = await policy_snapshot(session, category, priority)
    number = new_ticket_number()
    while (await session.execute(select(Ticket.id).where(Ticket.number == number))).first():
        number = new_ticket_number()
    ticket = Ticket(
        number=number,
        category=category,
        priority=priority,
        channel=channel,
        customer_id=customer_id,
        queue_id=q.id,
        subject=subject,
        description=description,
        status=Status.NEW.value,
        reopen_count=0,
        policy=policy,
        calendar={
            "name": cal_row.name,
            "zone": cal_row.zone,
            "hours": cal_row.hours,
            "holidays": cal_row.holidays,
        },
        source_key=source_key,
        created_by=created_by or principal.actor,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    for oid in orders:
        session.add(TicketOrder(ticket_id=ticket.id, order_id=oid))
    await record(
        session,
        ticket,
        "created",
        actor=created_by or principal.actor,
        channel=channel,
        now=now,
        after={
            "status": "new",
            "category": category,
            "priority": priority,
            "queue": q.code,
            "orders": orders,
        },
    )
    await append_clock(
        session,
        ticket,
        [ClockEvent(FIRST_RESPONSE, START, now), ClockEvent(RESOLUTION, START, now)],
    )
    from .assignment import drain_queue

    await drain_queue(session, q.id, now=now)
    return ticket


async def _check_customer(session: AsyncSession, customer_id: str) -> None:
    import auth

    getter = getattr(auth, "get_customer", None)
    if getter is None:
        return
    try:
        await getter(session, customer_id)
    except NotFound as exc:
        raise ValidationFailed.field("customer_id", "no such customer") from exc


async def get_for(session: AsyncSession, ticket_id: str, principal: Principal) -> Ticket:
    """The ticket if this principal may see it; another customer's ticket is 404."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or (principal.is_customer and ticket.customer_id != principal.id):
        raise NotFound("no such ticket")
    return ticket


async def add_comment(
    session: AsyncSession,
    ticket_id: str,
    principal: Principal,
    *,
    body: str,
    public: bool,
    now: datetime,
) -> TicketComment:
    await get_for(session, ticket_id, principal)
    ticket = await _lock(session, ticket_id)
    body = (body or "").strip()
    if not 1 <= len(body) <= 10_000:
        raise ValidationFailed.field("body", "1 to 10000 characters")
    if principal.is_customer:
        public = True  # customers cannot write internal notes
    if ticket.status == Status.CLOSED.value:
        raise ValidationFailed.field("ticket", "closed tickets take no comments")
    comment = TicketComment(
        ticket_id=ticket.id, author=principal.actor, body=body, public=public, created_at=now
    )
    session.add(comment)
    await record(
        session,
        ticket,
        "comment",
        actor=principal.actor,
        channel=principal.channel,
        now=now,
        after={"public": public, "length": len(body)},
        public=public,
    )
    clocks: list[ClockEvent] = []
    sts = states(ticket, await clock_events(session, ticket.id), now)
    if principal.is_agent and public:
        if ticket.first_responded_at is None:
            ticket.first_responded_at = now
            clocks.append(ClockEvent(FIRST_RESPONSE, STOP, now))
        if sts[NEXT_RESPONSE].running:
            clocks.append(ClockEvent(NEXT_RESPONSE, STOP, now))
    elif principal.is_customer:
        if ticket.first_responded_at is not None and not sts[NEXT_RESPONSE].running:
            clocks.append(ClockEvent(NEXT_RESPONSE, START, now))
        if ticket.status == Status.PENDING_CUSTOMER.value:
            await _apply_transition(
                session, ticket, Status.OPEN, principal, now, "customer replied"
            )
    ticket.updated_at = now
    if clocks:
        await append_clock(session, ticket, clocks)
    await session.flush()
    return comment


async def transition(
    session: AsyncSession,
    ticket_id: str,
    principal: Principal,
    *,
    to: str,
    now: datetime,
    reason: str | None = None,
    sms: SmsSender | None = None,
) -> Ticket:
    """Move the ticket; resolving texts the customer the satisfaction survey when `sms` (the
    SMS port) is given."""
    if not principal.is_agent:
        raise NotFound("no such ticket")
    target = parse_status(to)
    ticket = await _lock(session, ticket_id)
    await _apply_transition(session, ticket, target, principal, now, reason)
    if target == Status.RESOLVED and sms is not None:
        from .survey import send_survey

        await send_survey(session, ticket, sms, now=now)
    return ticket


async def _apply_transition(
    session: AsyncSession,
    ticket: Ticket,
    to: Status,
    principal: Principal,
    now: datetime,
    reason: str | None,
) -> None:
    current = Status(ticket.status)
    check_transition(current, to)
    ticket.status = to.value
    ticket.updated_at = now
    if to == Status.REOPENED:
        ticket.reopen_count += 1
    clocks = clock_events_for_transition(to, now)
    freed: str | None = None
    if to == Status.RESOLVED:
        ticket.resolved_at = now
        ticket.resolved_by = ticket.assignee_id or (principal.id if principal.is_agent else None)
        due = add_business_seconds(ticket_calendar(ticket), now, int(ticket.policy["followup"]))
        session.add(
            FollowUp(
                ticket_id=ticket.id,
                agent_id=ticket.resolved_by,
                status="pending",
                due_at=due,
                attempts=[],
                created_at=now,
                updated_at=now,
            )
        )
        freed = ticket.assignee_id
    elif to == Status.CLOSED:
        ticket.closed_at = now
    elif to == Status.REOPENED:
        ticket.resolved_at = None
    await record(
        session,
        ticket,
        "status",
        actor=principal.actor,
        channel=principal.channel,
        now=now,
        before={"status": current.value},
        after={"status": to.value, "reason": reason},
    )
    await append_clock(session, ticket, clocks)
    if freed:
        from .assignment import drain_for_agent

        await drain_for_agent(session, freed, now=now)
