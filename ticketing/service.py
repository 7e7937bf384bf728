"""Ticket use cases: open, view, comment, transition, satisfaction. Clock events, timeline rows
and the status change are written in the caller's transaction (never committed here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import commerce
from core.errors import Forbidden, NotFound, ValidationFailed
from core.principal import Principal
from core.sms import SmsSender
from core.text import check_plain_text

from .assignment import drain_for_agent, drain_queue
from .domain import (
    CATEGORIES,
    CHANNELS,
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    PRIORITIES,
    RESOLUTION,
    START,
    STOP,
    ClockEvent,
    Status,
    check_choice,
    new_ticket_number,
    parse_status,
)
from .models import (
    BusinessCalendar,
    Ticket,
    TicketComment,
    TicketOrder,
)
from .setup import policy_snapshot, queue_by_code, queue_for_category
from .survey import send_survey
from .timeline import (
    append_clock,
    apply_transition,
    clock_events,
    lock_ticket,
    record,
    states,
)

SYSTEM_CHANNEL = "system"  # tickets the system opens (a failed shipment), never a client's
OPEN_STATES = ("new", "open", "pending_customer", "pending_partner", "reopened")


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
    channel, subject, description = check_ticket(
        principal, category, priority, channel, subject, description, system=bool(source_key)
    )
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
    await drain_queue(session, q.id, now=now)
    return ticket


def check_ticket(
    principal: Principal,
    category: str,
    priority: str,
    channel: str | None,
    subject: str,
    description: str,
    *,
    system: bool = False,
) -> tuple[str, str, str]:
    """A new ticket's fields as both ways of opening check them: (channel, subject,
    description), trimmed, or ValidationFailed naming the field."""
    check_choice("category", category, CATEGORIES)
    check_choice("priority", priority, PRIORITIES)
    channels = (*CHANNELS, SYSTEM_CHANNEL) if system else CHANNELS
    channel = check_choice("channel", channel or principal.channel, channels)
    subject, description = (subject or "").strip(), (description or "").strip()
    if not 1 <= len(subject) <= 200:
        raise ValidationFailed.field("subject", "1 to 200 characters")
    if not 1 <= len(description) <= 10_000:
        raise ValidationFailed.field("description", "1 to 10000 characters")
    check_plain_text("subject", subject)
    check_plain_text("description", description, lines=True)
    return channel, subject, description


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
    ticket = await lock_ticket(session, ticket_id)
    body = (body or "").strip()
    if not 1 <= len(body) <= 10_000:
        raise ValidationFailed.field("body", "1 to 10000 characters")
    check_plain_text("body", body, lines=True)
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
            await apply_transition(session, ticket, Status.OPEN, principal, now, "customer replied")
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
    check_plain_text("reason", reason, lines=True)
    ticket = await lock_ticket(session, ticket_id)
    freed = await apply_transition(session, ticket, target, principal, now, reason)
    if freed:
        await drain_for_agent(session, freed, now=now)
    if target == Status.RESOLVED and sms is not None:
        await send_survey(session, ticket, sms, now=now)
    return ticket
