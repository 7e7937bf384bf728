"""Assignment: manual, and automatic to the least-loaded available queue member under their cap;
the unassigned backlog drains whenever an agent frees up or becomes available."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.principal import Principal

from .domain import AgentLoad, Status, choose_agent
from .models import AgentCapacity, QueueMember, Ticket, TicketQueue
from .setup import queue_by_code
from .timeline import apply_transition, lock_ticket, record

ACTIVE = ("new", "open", "pending_customer", "pending_partner", "reopened")


async def _loads(session: AsyncSession, queue_id: str) -> list[AgentLoad]:
    open_count = (
        select(Ticket.assignee_id, func.count().label("n"))
        .where(Ticket.status.in_(ACTIVE), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    rows = await session.execute(
        select(AgentCapacity, func.coalesce(open_count.c.n, 0))
        .join(QueueMember, QueueMember.agent_id == AgentCapacity.agent_id)
        .outerjoin(open_count, open_count.c.assignee_id == AgentCapacity.agent_id)
        .where(QueueMember.queue_id == queue_id)
    )
    return [
        AgentLoad(a.agent_id, int(n), a.cap, a.available, a.last_assigned_at) for a, n in rows.all()
    ]


async def _give(
    session: AsyncSession, ticket: Ticket, agent_id: str, actor: str, channel: str, now: datetime
) -> None:
    before = {"assignee": ticket.assignee_id}
    ticket.assignee_id = agent_id
    ticket.updated_at = now
    agent = await session.get(AgentCapacity, agent_id)
    if agent is not None:
        agent.last_assigned_at = now
    await record(
        session,
        ticket,
        "assignment",
        actor=actor,
        channel=channel,
        now=now,
        before=before,
        after={"assignee": agent_id},
        public=False,
    )
    if ticket.status == "new":
        await apply_transition(
            session,
            ticket,
            Status.OPEN,
            Principal("agent", agent_id, frozenset({"agent"})),
            now,
            "assigned",
        )


async def drain_queue(session: AsyncSession, queue_id: str, *, now: datetime) -> int:
    """Give the queue's oldest unassigned tickets to the least-loaded agents while any has room.

    The queue row and its members' rows are locked (PostgreSQL) so concurrent drains never
    overfill an agent.
    """
    # NO KEY UPDATE: serialises drains of this queue without clashing with the KEY SHARE lock
    # that inserting a ticket (FK to the queue) takes, which would deadlock two openings.
    await session.execute(
        select(TicketQueue.id).where(TicketQueue.id == queue_id).with_for_update(key_share=True)
    )
    # The members too, in id order: an agent in several queues is never filled past the cap.
    await session.execute(
        select(AgentCapacity.agent_id)
        .join(QueueMember, QueueMember.agent_id == AgentCapacity.agent_id)
        .where(QueueMember.queue_id == queue_id)
        .order_by(AgentCapacity.agent_id)
        .with_for_update(of=AgentCapacity, key_share=True)
    )
    given = 0
    while True:
        ticket = (
            await session.execute(
                select(Ticket)
                .where(Ticket.queue_id == queue_id, Ticket.assignee_id.is_(None))
                .where(Ticket.status.in_(ACTIVE))
                .order_by(Ticket.created_at, Ticket.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if ticket is None:
            return given
        agent_id = choose_agent(await _loads(session, queue_id))
        if agent_id is None:
            return given
        await _give(session, ticket, agent_id, "system:assignment", "system", now)
        await session.flush()
        given += 1


async def drain_for_agent(session: AsyncSession, agent_id: str, *, now: datetime) -> int:
    queues = (
        await session.execute(select(QueueMember.queue_id).where(QueueMember.agent_id == agent_id))
    ).scalars()
    total = 0
    for qid in sorted(set(queues)):
        total += await drain_queue(session, qid, now=now)
    return total


async def assign(
    session: AsyncSession,
    ticket_id: str,
    principal: Principal,
    *,
    agent_id: str | None,
    queue: str | None,
    now: datetime,
) -> Ticket:
    """Manual assignment (an agent, or a queue move), or automatic when neither is given."""
    if not principal.is_agent:
        raise NotFound("no such ticket")
    ticket = await lock_ticket(session, ticket_id)
    if ticket.status in ("resolved", "closed"):
        raise ValidationFailed.field("ticket", "resolved and closed tickets are not assigned")
    if queue:
        q = await queue_by_code(session, queue)
        if q.id != ticket.queue_id:
            old = await session.get(TicketQueue, ticket.queue_id)
            await record(
                session,
                ticket,
                "queue",
                actor=principal.actor,
                channel=principal.channel,
                now=now,
                before={"queue": old.code if old else None},
                after={"queue": q.code},
                public=False,
            )
            ticket.queue_id = q.id
            if agent_id is None:
                ticket.assignee_id = None
    if agent_id:
        if await session.get(AgentCapacity, agent_id) is None:
            raise ValidationFailed.field("agent_id", "not a ticketing agent")
        await _give(session, ticket, agent_id, principal.actor, principal.channel, now)
    else:
        await drain_queue(session, ticket.queue_id, now=now)
    await session.flush()
    return ticket
