"""Read models for the console: the supervisor's wallboard (per queue: backlog, at risk,
breached, oldest waiting; agents by availability and load against cap) and an agent's
follow-up calls due. Reads only; the same SLA arithmetic as the reports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from .domain import LEVELS, ClockEvent
from .models import AgentCapacity, ClockSegment, FollowUp, QueueMember, Ticket, TicketQueue
from .timeline import states

AT_RISK_FRACTION = LEVELS[0][1]  # the first escalation level: 75 %
ACTIVE = ("new", "open", "pending_customer", "pending_partner", "reopened")
WAITING = ("new", "open", "reopened")  # the operator's move, not the customer's or partner's


@dataclass
class QueueBoard:
    code: str
    name: str
    backlog: int = 0
    unassigned: int = 0
    at_risk: int = 0
    breached: int = 0
    oldest_waiting: datetime | None = None
    agents: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AgentBoard:
    agent_id: str
    available: bool
    open_tickets: int
    cap: int


async def queue_boards(session: AsyncSession, *, now: datetime) -> list[QueueBoard]:
    """One card per queue, from the active tickets and their clocks."""
    queues = list((await session.scalars(select(TicketQueue).order_by(TicketQueue.code))).all())
    boards = {q.id: QueueBoard(q.code, q.name) for q in queues}
    for queue_id, agent_id in await session.execute(
        select(QueueMember.queue_id, QueueMember.agent_id)
    ):
        if queue_id in boards:
            boards[queue_id].agents.append(agent_id)
    tickets = list((await session.scalars(select(Ticket).where(Ticket.status.in_(ACTIVE)))).all())
    events: dict[str, list[ClockEvent]] = defaultdict(list)
    ids = [t.id for t in tickets]
    for chunk in range(0, len(ids), 500):
        rows = await session.scalars(
            select(ClockSegment)
            .where(ClockSegment.ticket_id.in_(ids[chunk : chunk + 500]))
            .order_by(ClockSegment.ticket_id, ClockSegment.at, ClockSegment.seq)
        )
        for r in rows:
            events[r.ticket_id].append(ClockEvent(r.clock, r.kind, r.at))
    for t in tickets:
        board = boards.get(t.queue_id)
        if board is None:
            continue
        board.backlog += 1
        board.unassigned += t.assignee_id is None
        sts = states(t, events[t.id], now).values()
        if any(st.breached_at is not None for st in sts):
            board.breached += 1
        elif any(st.running and st.fraction >= AT_RISK_FRACTION for st in sts):
            board.at_risk += 1
        if t.status in WAITING and (
            board.oldest_waiting is None or t.created_at < board.oldest_waiting
        ):
            board.oldest_waiting = t.created_at
    return list(boards.values())


async def agent_boards(session: AsyncSession) -> list[AgentBoard]:
    """Every ticketing agent: available or not, open tickets against their cap."""
    open_count = (
        select(Ticket.assignee_id, func.count().label("n"))
        .where(Ticket.status.in_(ACTIVE), Ticket.assignee_id.is_not(None))
        .group_by(Ticket.assignee_id)
        .subquery()
    )
    rows = await session.execute(
        select(AgentCapacity, func.coalesce(open_count.c.n, 0)).outerjoin(
            open_count, open_count.c.assignee_id == AgentCapacity.agent_id
        )
    )
    return [AgentBoard(a.agent_id, a.available, int(n), a.cap) for a, n in rows.all()]


async def followups_due(
    session: AsyncSession, agent_id: str, *, until: datetime, limit: int = 20
) -> list[tuple[FollowUp, Ticket]]:
    """This agent's pending follow-up calls due before `until` (end of today), soonest first."""
    rows = await session.execute(
        select(FollowUp, Ticket)
        .join(Ticket, Ticket.id == FollowUp.ticket_id)
        .where(FollowUp.agent_id == agent_id, FollowUp.status == "pending")
        .where(FollowUp.due_at < until)
        .order_by(FollowUp.due_at)
        .limit(limit)
    )
    return [(f, t) for f, t in rows.all()]
