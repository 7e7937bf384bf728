"""Agent ticket lists and refund references."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.principal import Principal

from .domain import Status
from .models import Ticket, TicketOrder, TicketRefund
from .service import _lock, record
from .setup import queue_by_code


async def list_tickets(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None = None,
    assignee: str | None = None,
    queue: str | None = None,
    breached: bool | None = None,
    now: datetime,
    limit: int = 50,
) -> list[Ticket]:
    """Agents list any tickets; customers list their own."""
    if not 1 <= limit <= 200:
        raise ValidationFailed.field("limit", "1 to 200")
    q = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id).limit(limit)
    if principal.is_customer:
        q = q.where(Ticket.customer_id == principal.id)
    if status:
        try:
            q = q.where(Ticket.status == Status(status).value)
        except ValueError as exc:
            raise ValidationFailed.field("status", "unknown status") from exc
    if assignee:
        q = q.where(Ticket.assignee_id == assignee)
    if queue:
        q = q.where(Ticket.queue_id == (await queue_by_code(session, queue)).id)
    tickets = list((await session.execute(q)).scalars())
    if breached is not None:
        from .service import clock_events, states

        kept = []
        for t in tickets:
            sts = states(t, await clock_events(session, t.id), now)
            if any(s.breached_at is not None for s in sts.values()) == breached:
                kept.append(t)
        tickets = kept
    return tickets


async def check_refund_ticket(session: AsyncSession, ticket_id: str, order_id: str) -> Ticket:
    """The ticket a refund on `order_id` may name: it exists and is linked to that order
    (else 422 on `ticket_id`, before any money moves)."""
    ticket = await session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        raise ValidationFailed.field("ticket_id", "no such ticket")
    linked = await session.scalar(
        select(TicketOrder.id).where(
            TicketOrder.ticket_id == ticket.id, TicketOrder.order_id == order_id
        )
    )
    if linked is None:
        raise ValidationFailed.field("ticket_id", "this ticket is not linked to the order")
    return ticket


async def note_refund(
    session: AsyncSession, ticket_id: str, principal: Principal, *, refund_id: str, now: datetime
) -> TicketRefund:
    """A supervisor's refund decision names this ticket (payments refunds carry `ticket_id`)."""
    if not principal.is_agent:
        raise NotFound("no such ticket")
    ticket = await _lock(session, ticket_id)
    if not refund_id or len(refund_id) > 64:
        raise ValidationFailed.field("refund_id", "1 to 64 characters")
    row = TicketRefund(
        ticket_id=ticket.id, refund_id=refund_id, decided_by=principal.actor, created_at=now
    )
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict("this refund is already noted") from exc
    await record(
        session,
        ticket,
        "refund",
        actor=principal.actor,
        channel=principal.channel,
        now=now,
        after={"refund_id": refund_id},
        public=False,
    )
    return row


async def find_by_number(session: AsyncSession, number: str) -> Ticket:
    ticket = (
        await session.execute(select(Ticket).where(Ticket.number == number))
    ).scalar_one_or_none()
    if ticket is None:
        raise NotFound("no such ticket")
    return ticket
