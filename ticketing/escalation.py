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
from datetime import datetime

import structlog
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres, new_id
from core.runtime import Runtime

from .escalation_pg import escalate_set
from .escalation_plan import (
    ACTOR,
    EscalationRun,
    announce,
    plan,
    timeline_after,
)
from .models import Escalation, Ticket, TicketQueue
from .timeline import clock_events, fired_levels, record

BATCH = 200
log = structlog.get_logger("hotline.ticketing.escalation")


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
    """The plain pass over one ticket (SQLite, and the fallback of the set-based pass)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        return
    queue = await session.get(TicketQueue, ticket.queue_id)
    decided = plan(
        ticket,
        await clock_events(session, ticket.id),
        await fired_levels(session, ticket_id),
        queue.supervisor_id if queue else None,
        now,
    )
    if decided.due and before_fire is not None:
        await before_fire(ticket.id)
    for fire in decided.due:
        clock, cycle, level, notified = fire
        run.attempted += 1
        fired = await _fire_once(session, ticket.id, clock, cycle, level, notified, now)
        if fired is None:
            continue  # another worker fired it
        run.fired.append((ticket.id, clock, level))
        announce(session, ticket.id, fired, fire, now)
        await record(
            session,
            ticket,
            "escalation",
            actor=ACTOR,
            channel="system",
            now=now,
            after=timeline_after(fire),
            public=False,
        )
    # The ticket is not locked (a lock would serialise the workers behind one another), so the
    # next look is written only if nothing changed the ticket since it was read: a state change
    # that committed meanwhile already set its own check_at, and must not be overwritten.
    await session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            Ticket.updated_at == decided.seen_updated,
            Ticket.check_at.is_not_distinct_from(decided.seen_check),
        )
        .values(check_at=decided.next_check)
        .execution_options(synchronize_session=False)
    )


async def escalate_due(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    before_fire: Callable[[str], Awaitable[None]] | None = None,
    *,
    set_based: bool | None = None,
) -> EscalationRun:
    """One pass over the tickets whose next level is due: on PostgreSQL all of them in one
    transaction (escalation_pg.py); on SQLite, or when that fails, each in its own.
    `set_based=False` forces the plain pass (tests compare the two)."""
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
        if set_based is None:
            set_based = is_postgres(session)
    if set_based and ids:
        try:
            async with sessions() as session, session.begin():
                await escalate_set(session, ids, now, run, before_fire)
            run.set_based = True
            return run
        except Exception:
            # Rolled back whole: every check_at still says "due"; one at a time below.
            log.exception("set-based escalation pass failed; passing one ticket at a time")
            run = EscalationRun(attempted=run.attempted)
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
