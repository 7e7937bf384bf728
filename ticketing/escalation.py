"""Escalation job: 75%, 90% and breach per (ticket, clock, cycle), each fired exactly once.

Safe with several workers: every worker may see the same due ticket, but a fire is an
INSERT .. ON CONFLICT DO NOTHING into ticket_escalations (unique ticket, clock, cycle, level);
only the worker whose insert lands writes the timeline entry, the `ticket.escalated` outbox
message and an inbox row per notified agent, all in that same transaction. Tickets carry
`check_at` (the next level's moment), so the job reads only tickets that are due and can run
every couple of seconds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import outbox
from core.db import is_postgres, new_id
from core.runtime import Runtime

from .domain import clock_cycle, escalation_targets, levels_reached, next_check
from .models import Escalation, Ticket, TicketQueue
from .notifications import notify
from .timeline import clock_events, fired_levels, record, states, ticket_calendar

TOPIC_TICKET_ESCALATED = "ticket.escalated"

BATCH = 200
log = structlog.get_logger("hotline.ticketing.escalation")


@dataclass
class EscalationRun:
    attempted: int = 0  # level inserts tried (several workers may try the same one)
    fired: list[tuple[str, str, str]] = field(default_factory=list)  # (ticket, clock, level)
    failed: list[str] = field(default_factory=list)  # tickets whose pass raised (retried later)


async def _fire_once(
    session: AsyncSession,
    ticket_id: str,
    clock: str,
    cycle: int,
    level: str,
    notified: list[str],
    now: datetime,
) -> str | None:
    """The new escalation's id, or None when another worker already fired this level."""
    dialect = postgresql if is_postgres(session) else sqlite
    stmt = (
        dialect.insert(Escalation)
        .values(
            id=new_id(),
            ticket_id=ticket_id,
            clock=clock,
            cycle=cycle,
            level=level,
            notified=notified,
            fired_at=now,
        )
        .on_conflict_do_nothing(index_elements=["ticket_id", "clock", "cycle", "level"])
        .returning(Escalation.id)
    )
    row = (await session.execute(stmt)).first()
    return None if row is None else str(row[0])


async def escalate_ticket(
    session: AsyncSession,
    ticket_id: str,
    now: datetime,
    run: EscalationRun,
    before_fire: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return
    seen_updated, seen_check = ticket.updated_at, ticket.check_at
    done = await fired_levels(session, ticket_id)
    queue = await session.get(TicketQueue, ticket.queue_id)
    supervisor = queue.supervisor_id if queue else None
    events = await clock_events(session, ticket.id)
    sts = states(ticket, events, now)
    due = [
        (clock, cycle, level)
        for clock, st in sts.items()
        if not st.stopped
        for cycle in (clock_cycle(events, clock, now),)
        for level in levels_reached(st)
        if (clock, cycle, level) not in done
    ]
    if due and before_fire is not None:
        await before_fire(ticket.id)
    for clock, cycle, level in due:
        notified = escalation_targets(level, ticket.assignee_id, supervisor)
        run.attempted += 1
        fired = await _fire_once(session, ticket.id, clock, cycle, level, notified, now)
        if fired is None:
            continue  # another worker fired it
        run.fired.append((ticket.id, clock, level))
        notify(
            session,
            agents=notified,
            ticket_id=ticket.id,
            escalation_id=fired,
            clock=clock,
            level=level,
            now=now,
        )
        await record(
            session,
            ticket,
            "escalation",
            actor="system:sla",
            channel="system",
            now=now,
            after={"clock": clock, "cycle": cycle, "level": level, "notified": notified},
            public=False,
        )
        outbox.emit(
            session,
            TOPIC_TICKET_ESCALATED,
            {
                "ticket_id": ticket.id,
                "clock": clock,
                "cycle": cycle,
                "level": level,
                "notify": notified,
            },
            now=now,
        )
    cal = ticket_calendar(ticket)
    moments = [m for m in (next_check(cal, s) for s in sts.values()) if m is not None and m > now]
    # The ticket is not locked (a lock would serialise the workers behind one another), so the
    # next look is written only if nothing changed the ticket since it was read: a state change
    # that committed meanwhile already set its own check_at, and must not be overwritten.
    await session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.updated_at == seen_updated,
            Ticket.check_at.is_not_distinct_from(seen_check),
        )
        .values(check_at=min(moments) if moments else None)
        .execution_options(synchronize_session=False)
    )


async def escalate_due(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    before_fire: Callable[[str], Awaitable[None]] | None = None,
) -> EscalationRun:
    """One pass: every ticket whose next level is due, each in its own short transaction."""
    run = EscalationRun()
    async with sessions() as session:
        ids = list(
            (
                await session.execute(
                    select(Ticket.id)
                    .where(Ticket.check_at.is_not(None), Ticket.check_at <= now)
                    .order_by(Ticket.check_at)
                    .limit(BATCH)
                )
            ).scalars()
        )
    for ticket_id in ids:
        # Own transaction per ticket (the job has no request session): one ticket's trouble
        # never holds back the others, and each fire commits with its timeline and outbox rows.
        fired_before = len(run.fired)
        try:
            async with sessions() as session, session.begin():
                await escalate_ticket(session, ticket_id, now, run, before_fire)
        except Exception:
            # Rolled back, so its check_at still says "due": the next pass tries again.
            del run.fired[fired_before:]
            run.failed.append(ticket_id)
            log.exception("escalation failed for a ticket; continuing", ticket_id=ticket_id)
    return run


async def escalation_job(runtime: Runtime) -> EscalationRun:
    """Periodic entry point (api/wiring.py): every couple of seconds, in any number of workers."""
    return await escalate_due(runtime.sessions, runtime.clock.now())
