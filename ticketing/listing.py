"""Ticket lists (cursor-paginated) and refund references."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, ValidationFailed
from core.paging import keyset, page_of
from core.principal import Principal

from .domain import Status
from .models import Ticket, TicketComment, TicketOrder, TicketRefund
from .service import OPEN_STATES
from .setup import queue_by_code
from .timeline import lock_ticket, record


@dataclass(frozen=True)
class TicketPage:
    items: list[Ticket]
    next_cursor: str | None


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
    cursor: str | None = None,
) -> TicketPage:
    """Agents list any tickets; customers list their own. Newest first, keyset-paginated;
    every filter (breached= too, through `breach_at`) is in SQL, before the limit."""
    if not 1 <= limit <= 200:
        raise ValidationFailed.field("limit", "1 to 200")
    q = select(Ticket)
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
    if breached is True:
        q = q.where(Ticket.breach_at.is_not(None), Ticket.breach_at <= now)
    elif breached is False:
        q = q.where(or_(Ticket.breach_at.is_(None), Ticket.breach_at > now))
    q = keyset(q, Ticket.created_at, Ticket.id, cursor=cursor, limit=limit)
    page = page_of(list(await session.scalars(q)), limit, lambda t: (t.created_at, t.id))
    return TicketPage(page.items, page.next_cursor)


async def check_refund_ticket(session: AsyncSession, ticket_id: str, order_id: str) -> Ticket:
    """The ticket a refund on `order_id` may name: it exists and is linked to that order
    (else 422 on `ticket_id`, before any money moves)."""
    ticket = await session.get(Ticket, ticket_id) if ticket_id else None
    if ticket is None:
        raise ValidationFailed.field("ticket_id", "no such ticket")
    if not await _linked(session, ticket.id, order_id):
        raise ValidationFailed.field("ticket_id", "this ticket is not linked to the order")
    return ticket


async def _linked(session: AsyncSession, ticket_id: str, order_id: str) -> bool:
    row = await session.scalar(
        select(TicketOrder.id).where(
            TicketOrder.ticket_id == ticket_id, TicketOrder.order_id == order_id
        )
    )
    return row is not None


async def note_refund(
    session: AsyncSession,
    ticket_id: str,
    principal: Principal,
    *,
    refund_id: str,
    refunded_order_id: str | None,
    now: datetime,
) -> TicketRefund:
    """A supervisor's or finance's refund decision names this ticket (payments refunds carry
    `ticket_id`). `refunded_order_id` is the order the refund paid back, None when payments
    knows no such refund: the caller looks it up, as ticketing may not import payments. The
    refund must be for an order linked to the ticket, which also keeps it on one customer's
    tickets (a ticket is linked only to its customer's orders)."""
    if not principal.is_agent:
        raise NotFound("no such ticket")
    ticket = await lock_ticket(session, ticket_id)
    if not refund_id or len(refund_id) > 64:
        raise ValidationFailed.field("refund_id", "1 to 64 characters")
    if refunded_order_id is None:
        raise ValidationFailed.field("refund_id", "no such refund")
    if not await _linked(session, ticket.id, refunded_order_id):
        raise ValidationFailed.field(
            "refund_id", "this refund is for an order not linked to the ticket"
        )
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


async def awaiting_customer_reply(session: AsyncSession, customer_id: str) -> Ticket | None:
    """The customer's open ticket with the latest public agent message, if any: a text the
    customer sends back (the SMS channel) is their reply to it."""
    row = await session.execute(
        select(Ticket)
        .join(TicketComment, TicketComment.ticket_id == Ticket.id)
        .where(
            Ticket.customer_id == customer_id,
            Ticket.status.in_(OPEN_STATES),
            TicketComment.public.is_(True),
            TicketComment.author.like("agent:%"),
        )
        .order_by(TicketComment.created_at.desc(), TicketComment.id.desc())
        .limit(1)
    )
    return row.scalars().first()
