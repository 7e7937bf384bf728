"""The set-based escalation pass (PostgreSQL): all due tickets of a pass in one transaction and
about ten round trips, instead of one transaction and ~6 round trips per level fired
(bench/ticketing.py: ~200 fires/s one ticket at a time). It decides through the same `plan`
as the plain pass (escalation.py) and keeps its guarantees:

- exactly once: the fires go in as one multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING
  into ticket_escalations; only the rows it returns write timeline, inbox and outbox rows.
  Rows are sorted by their unique key, so two workers inserting the same rows wait on each
  other in one order and never deadlock;
- timeline numbering: each ticket's new rows take max(seq)+1.. in SQL in one INSERT; a row a
  lockless writer committed meanwhile makes it fail on the unique (ticket_id, seq) key, and the
  savepoint lets it count again (as timeline.record does one row at a time);
- check_at: written only where the ticket did not change since it was read (as the plain
  pass), and with SKIP LOCKED: a ticket someone holds right now is being changed, and its
  change writes its own check_at; if it rolls back instead, the ticket keeps its old, due,
  check_at and the next pass looks again (its fires are keyed, so nothing fires twice). The
  batch therefore never waits on, nor deadlocks with, an agent's transaction.

Not locking tickets while reading is deliberate (as in the plain pass): several workers may
decide the same fires, and the unique key lets one land. SKIP LOCKED on the read would hide due
tickets from a second worker instead, which this design does not need.

Anything else going wrong rolls the batch back whole and the caller runs the plain pass over
the same tickets, one transaction each, so one bad ticket still never holds back the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import outbox
from core.db import new_id
from core.drivers import to_json

from .domain import ClockEvent
from .escalation_plan import (
    ACTOR,
    TOPIC_TICKET_ESCALATED,
    EscalationRun,
    TicketPlan,
    inbox_rows,
    message,
    plan,
    timeline_after,
)
from .models import AgentNotification, ClockSegment, Escalation, Ticket, TicketQueue
from .timeline import TIMELINE_RETRIES

log = structlog.get_logger("hotline.ticketing.escalation")

_FIRE = text("""
INSERT INTO ticket_escalations (id, ticket_id, clock, cycle, level, notified, fired_at)
SELECT r.id, r.ticket_id, r.clock, r.cycle, r.level, r.notified, r.fired_at
FROM json_to_recordset(CAST(:rows AS json))
     AS r(id text, ticket_id text, clock text, cycle int, level text, notified json,
          fired_at timestamptz, n bigint)
ORDER BY r.n
ON CONFLICT (ticket_id, clock, cycle, level) DO NOTHING
RETURNING id
""")

# The numbers are taken in the statement, from the rows committed before it started.
_TIMELINE = text("""
INSERT INTO ticket_events (id, ticket_id, seq, kind, actor, channel, before, after, public, at)
SELECT r.id, r.ticket_id,
       COALESCE((SELECT max(e.seq) FROM ticket_events e WHERE e.ticket_id = r.ticket_id), 0)
         + r.k,
       'escalation', :actor, 'system', NULL, r.after, false, r.at
FROM json_to_recordset(CAST(:rows AS json))
     AS r(id text, ticket_id text, k int, after json, at timestamptz, n bigint)
ORDER BY r.n
""")

_NEXT_CHECK = text("""
UPDATE tickets t SET check_at = r.next
FROM json_to_recordset(CAST(:rows AS json))
     AS r(id text, seen_updated timestamptz, seen_check timestamptz, next timestamptz)
WHERE t.id = r.id
  AND t.updated_at = r.seen_updated
  AND t.check_at IS NOT DISTINCT FROM r.seen_check
  AND t.id IN (SELECT id FROM tickets WHERE id = ANY(CAST(:ids AS text[]))
               ORDER BY id FOR UPDATE SKIP LOCKED)
""")


async def plans(session: AsyncSession, ids: list[str], now: datetime) -> list[TicketPlan]:
    """Each ticket's plan from four reads for the lot (tickets, clock events, fired levels,
    queues' supervisors), in `ids` order."""
    tickets = {
        t.id: t for t in (await session.execute(select(Ticket).where(Ticket.id.in_(ids)))).scalars()
    }
    events: dict[str, list[ClockEvent]] = defaultdict(list)
    for r in await session.execute(
        select(ClockSegment.ticket_id, ClockSegment.clock, ClockSegment.kind, ClockSegment.at,
               ClockSegment.seq)
        .where(ClockSegment.ticket_id.in_(ids))
        .order_by(ClockSegment.at, ClockSegment.seq)
    ):  # fmt: skip
        events[r.ticket_id].append(ClockEvent(r.clock, r.kind, r.at, r.seq))
    done: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for tid, clock, cycle, level in await session.execute(
        select(Escalation.ticket_id, Escalation.clock, Escalation.cycle, Escalation.level).where(
            Escalation.ticket_id.in_(ids)
        )
    ):
        done[tid].add((clock, int(cycle), level))
    queue_ids = {t.queue_id for t in tickets.values()}
    supervisors = dict(
        (
            await session.execute(
                select(TicketQueue.id, TicketQueue.supervisor_id).where(
                    TicketQueue.id.in_(queue_ids)
                )
            )
        ).all()
    )
    return [
        plan(t, events[t.id], done[t.id], supervisors.get(t.queue_id), now)
        for t in (tickets.get(i) for i in ids)
        if t is not None
    ]


async def escalate_set(
    session: AsyncSession,
    ids: list[str],
    now: datetime,
    run: EscalationRun,
    before_fire: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Escalate these tickets in the caller's transaction (the caller commits; on any error
    it rolls back and hands the same tickets to the plain pass). A ticket whose `before_fire`
    raises is left out whole (`run.failed`): its check_at stays due for the next pass."""
    decided: list[TicketPlan] = []
    for p in await plans(session, ids, now):
        if p.due and before_fire is not None:
            try:
                await before_fire(p.ticket.id)
            except Exception:
                run.failed.append(p.ticket.id)
                log.exception("escalation failed for a ticket; continuing", ticket_id=p.ticket.id)
                continue
        decided.append(p)
    tries = sorted(
        ((p.ticket.id, fire, new_id()) for p in decided for fire in p.due),
        key=lambda t: (t[0], t[1][0], t[1][1], t[1][2]),
    )
    run.attempted += len(tries)
    landed: set[str] = set()
    if tries:
        rows = [
            {"id": eid, "ticket_id": tid, "clock": f[0], "cycle": f[1], "level": f[2],
             "notified": f[3], "fired_at": now, "n": n}
            for n, (tid, f, eid) in enumerate(tries)
        ]  # fmt: skip
        landed = set((await session.execute(_FIRE, {"rows": to_json(rows)})).scalars())
    fired = {(tid, f[0], f[1], f[2]): eid for tid, f, eid in tries if eid in landed}
    timeline: list[dict[str, Any]] = []
    inbox: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for p in decided:  # in the plain pass's order: tickets as given, fires as planned
        tid = p.ticket.id
        for fire in p.due:
            eid = fired.get((tid, fire[0], fire[1], fire[2]))
            if eid is None:
                continue  # another worker fired it
            run.fired.append((tid, fire[0], fire[2]))
            inbox += inbox_rows(tid, eid, fire, now)
            messages.append(message(tid, fire))
            timeline.append({"id": new_id(), "ticket_id": tid, "k": 0,
                             "after": timeline_after(fire), "at": now})  # fmt: skip
    counts: dict[str, int] = defaultdict(int)
    for row in timeline:
        counts[row["ticket_id"]] += 1
        row["k"] = counts[row["ticket_id"]]
    if timeline:
        timeline.sort(key=lambda r: (r["ticket_id"], r["k"]))
        for n, row in enumerate(timeline):
            row["n"] = n
        await _insert_timeline(session, timeline)
    if inbox:
        await session.execute(insert(AgentNotification), inbox)
    await outbox.emit_many(session, TOPIC_TICKET_ESCALATED, messages, now=now)
    checks = [
        {"id": p.ticket.id, "seen_updated": p.seen_updated, "seen_check": p.seen_check,
         "next": p.next_check}
        for p in decided
    ]  # fmt: skip
    if checks:
        await session.execute(
            _NEXT_CHECK, {"rows": to_json(checks), "ids": [c["id"] for c in checks]}
        )


async def _insert_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    payload = to_json(rows)
    for attempt in range(TIMELINE_RETRIES):
        try:
            async with session.begin_nested():
                await session.execute(_TIMELINE, {"rows": payload, "actor": ACTOR})
            return
        except IntegrityError:
            if attempt == TIMELINE_RETRIES - 1:
                raise
