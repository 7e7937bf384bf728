"""A ticket's own record: its row lock, timeline rows, SLA clock events and status changes.
Below service, assignment, follow-up and survey, which all write through it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import new_id
from core.errors import NotFound
from core.principal import Principal

from .calendar import Calendar, add_business_seconds
from .domain import (
    CLOCKS,
    ClockEvent,
    ClockState,
    Status,
    breach_moment,
    check_transition,
    clock_cycle,
    clock_events_for_transition,
    clock_state,
    levels_reached,
    next_check,
)
from .models import (
    ClockSegment,
    Escalation,
    FollowUp,
    Ticket,
    TicketEvent,
)

TIMELINE_RETRIES = 5


def ticket_calendar(ticket: Ticket) -> Calendar:
    return Calendar.from_snapshot(ticket.calendar)


async def lock_ticket(session: AsyncSession, ticket_id: str) -> Ticket:
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
    looks = next_looks(ticket, await clock_events(session, ticket.id), now)
    moments = looks.moments
    if looks.reached and looks.reached - await fired_levels(session, ticket.id):
        moments = [*moments, now]  # a level crossed just before a pause still fires next pass
    ticket.check_at = min(moments) if moments else None
    ticket.breach_at = looks.breach_at


@dataclass(frozen=True)
class Looks:
    moments: list[datetime]  # when a running clock reaches its next level
    reached: set[tuple[str, int, str]]  # (clock, cycle, level) reached by the current cycles
    breach_at: datetime | None
    states: dict[str, ClockState]  # the clocks at `now`, as `states` gives them


def next_looks(ticket: Ticket, stored: list[ClockEvent], now: datetime) -> Looks:
    """From all the ticket's clock events: when the escalation job should look next (together
    with the levels already fired, which only the caller can read) and the breach moment."""
    sts = states(ticket, stored, now)
    cal = ticket_calendar(ticket)
    return Looks(
        [m for m in (next_check(cal, s) for s in sts.values()) if m is not None],
        {
            (c, clock_cycle(stored, c, now), lv)
            for c, s in sts.items()
            if not s.stopped
            for lv in levels_reached(s)
        },
        breach_moment(list(sts.values())),
        sts,
    )


async def apply_transition(
    session: AsyncSession,
    ticket: Ticket,
    to: Status,
    principal: Principal,
    now: datetime,
    reason: str | None,
) -> str | None:
    """Check and apply a status change with its timeline row and clock events; return the
    agent a resolution frees (the caller drains their queue: assignment sits above this)."""
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
    return freed
