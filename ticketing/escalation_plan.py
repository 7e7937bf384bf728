"""What an escalation pass decides for a ticket, and the rows a landed fire writes besides its
own: shared by the plain pass (escalation.py, one ticket a transaction) and the set-based one
(escalation_pg.py, all due tickets in one), so the two cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.db import new_id

from .domain import ClockEvent, clock_cycle, escalation_targets, levels_reached, next_check
from .models import Ticket
from .notifications import notify
from .timeline import states, ticket_calendar

TOPIC_TICKET_ESCALATED = "ticket.escalated"
ACTOR = "system:sla"
Fire = tuple[str, int, str, list[str]]  # (clock, cycle, level, agents notified)


@dataclass
class EscalationRun:
    attempted: int = 0  # level inserts tried (several workers may try the same one)
    fired: list[tuple[str, str, str]] = field(default_factory=list)  # (ticket, clock, level)
    failed: list[str] = field(default_factory=list)  # tickets whose pass raised (retried later)
    set_based: bool = False  # all in one transaction (escalation_pg.py), not one by one


@dataclass(frozen=True)
class TicketPlan:
    """What a pass decides for one ticket, from rows read without a lock: the levels due and
    not yet fired, whom each notifies, and when to look next."""

    ticket: Ticket
    due: list[Fire]
    next_check: datetime | None
    seen_updated: datetime
    seen_check: datetime | None


def plan(
    ticket: Ticket,
    events: list[ClockEvent],
    done: set[tuple[str, int, str]],
    supervisor: str | None,
    now: datetime,
) -> TicketPlan:
    sts = states(ticket, events, now)
    due = [
        (clock, cycle, level, escalation_targets(level, ticket.assignee_id, supervisor))
        for clock, st in sts.items()
        if not st.stopped
        for cycle in (clock_cycle(events, clock, now),)
        for level in levels_reached(st)
        if (clock, cycle, level) not in done
    ]
    cal = ticket_calendar(ticket)
    moments = [m for m in (next_check(cal, s) for s in sts.values()) if m is not None and m > now]
    return TicketPlan(
        ticket, due, min(moments) if moments else None, ticket.updated_at, ticket.check_at
    )


def announce(
    session: AsyncSession,
    ticket_id: str,
    escalation_id: str,
    fire: Fire,
    now: datetime,
) -> None:
    """A landed fire's inbox rows and `ticket.escalated` message (the plain pass's ORM adds;
    the set-based pass inserts the same `inbox_rows` and `message` in bulk)."""
    clock, _, level, notified = fire
    notify(
        session,
        agents=notified,
        ticket_id=ticket_id,
        escalation_id=escalation_id,
        clock=clock,
        level=level,
        now=now,
    )
    outbox.emit(session, TOPIC_TICKET_ESCALATED, message(ticket_id, fire), now=now)


def message(ticket_id: str, fire: Fire) -> dict[str, Any]:
    """The `ticket.escalated` payload."""
    clock, cycle, level, notified = fire
    return {"ticket_id": ticket_id, "clock": clock, "cycle": cycle, "level": level,
            "notify": notified}  # fmt: skip


def inbox_rows(
    ticket_id: str, escalation_id: str, fire: Fire, now: datetime
) -> list[dict[str, Any]]:
    """The rows `notifications.notify` adds, as values for a bulk insert."""
    clock, _, level, notified = fire
    return [
        {"id": new_id(), "agent_id": agent_id, "ticket_id": ticket_id,
         "escalation_id": escalation_id, "kind": "escalation", "clock": clock, "level": level,
         "created_at": now, "read_at": None}
        for agent_id in notified
    ]  # fmt: skip


def timeline_after(fire: Fire) -> dict[str, Any]:
    clock, cycle, level, notified = fire
    return {"clock": clock, "cycle": cycle, "level": level, "notified": notified}
