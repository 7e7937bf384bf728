"""A customer's new ticket on PostgreSQL in two statements on asyncpg's pool (core/drivers.py),
instead of ~40 through the session (bench/ticketing.py: the plain way spent its time in the
ORM's unit of work and its round trips: number check, savepointed timeline row, max(seq)
reads, clock events read back, the drain's four queries, the view's five).

1. `_SETUP` reads the queue (by code, or the category's as setup.queue_for_category picks
   it), its calendar and the SLA policy row in one statement;
2. this module builds the ticket, its `created` row and clock events, their next look and
   breach moment (timeline.next_looks, as append_clock computes them) and the response (views.
   new_ticket_view) in memory;
3. `ticketing_open_ticket` (migrations 0014) writes them with the stored Idempotency-Key
   response in one statement, its own transaction, holding the queue's drain lock only
   inside PostgreSQL, and only when no member agent has room: then no drain could assign
   the ticket, so leaving it unassigned is what the plain way's drain would do too.

Everything else takes the plain way (`open_customer_ticket` returns None): an agent room in the
queue (the plain drain assigns), orders named, a queue or the default queue not found (the
plain way raises, or creates the default queue), an agent opening for a customer. A taken
ticket number is drawn again: the statement wrote nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from core.db import new_id
from core.drivers import DriverPool
from core.idempotency import Completion
from core.principal import Principal

from .domain import FIRST_RESPONSE, RESOLUTION, START, ClockEvent, Status, new_ticket_number
from .models import Ticket, TicketEvent
from .service import check_ticket
from .setup import DEFAULT_QUEUE, policy_of
from .timeline import next_looks
from .views import new_ticket_view

_SETUP = """
SELECT q.id, q.code, c.name, c.zone, c.hours, c.holidays,
       p.id, p.first_response_s, p.next_response_s, p.resolution_s, p.followup_s
  FROM ticket_queues q
  JOIN ticket_calendars c ON c.id = q.calendar_id
  LEFT JOIN sla_policies p ON p.category = $2 AND p.priority = $3
 WHERE CASE WHEN $1::text IS NOT NULL THEN q.code = $1
            ELSE q.code = $4 OR COALESCE(q.categories::jsonb, '[]'::jsonb) ? $2 END
 ORDER BY q.code = $4, q.created_at
 LIMIT 1
"""
_OPEN = "SELECT ticketing_open_ticket($1, $2, $3, $4, $5, $6, $7)"
_NUMBER_TAKEN = "uq_tickets_number"
_DRAWS = 5
Respond = Callable[[dict[str, Any], str], Completion | None]


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    body: dict[str, Any]  # the customer's ticket_view of it


async def open_customer_ticket(
    drivers: DriverPool,
    principal: Principal,
    *,
    now: datetime,
    category: str,
    subject: str,
    description: str,
    priority: str,
    channel: str | None,
    queue: str | None,
    respond: Respond,
) -> Opened | None:
    """Open the customer's own ticket and commit it, with the response `respond(body, id)`
    returns stored; None when it must be opened the plain way (nothing written then)."""
    if not principal.is_customer:
        return None
    channel, subject, description = check_ticket(
        principal, category, priority, channel, subject, description
    )
    async with drivers.connection() as pg:
        row = await pg.fetchrow(_SETUP, queue, category, priority, DEFAULT_QUEUE)
        if row is None:
            return None
        queue_id, code, cal_name, zone, hours, holidays = row[:6]
        policy = policy_of(tuple(row[6:]) if row[6] is not None else None, priority)
        calendar = {"name": cal_name, "zone": zone, "hours": msgspec.json.decode(hours),
                    "holidays": msgspec.json.decode(holidays)}  # fmt: skip
        for _ in range(_DRAWS):
            ticket = Ticket(
                id=new_id(), number=new_ticket_number(), category=category, priority=priority,
                channel=channel, customer_id=principal.id, queue_id=queue_id, assignee_id=None,
                subject=subject, description=description, status=Status.NEW.value,
                reopen_count=0, policy=policy, calendar=calendar, source_key=None,
                created_by=principal.actor, created_at=now, updated_at=now,
            )  # fmt: skip
            created = TicketEvent(
                id=new_id(), ticket_id=ticket.id, seq=1, kind="created", actor=principal.actor,
                channel=channel, before=None, public=True, at=now,
                after={"status": "new", "category": category, "priority": priority,
                       "queue": code, "orders": []},
            )  # fmt: skip
            clocks = [
                ClockEvent(FIRST_RESPONSE, START, now, 1),
                ClockEvent(RESOLUTION, START, now, 2),
            ]
            looks = next_looks(ticket, clocks, now)
            moments = [*looks.moments, now] if looks.reached else looks.moments  # none fired
            ticket.check_at = min(moments) if moments else None
            ticket.breach_at = looks.breach_at
            body = new_ticket_view(ticket, looks.states, code, created, now)
            done = respond(body, ticket.id)
            try:
                opened = await pg.fetchval(
                    _OPEN, _ticket_json(ticket), _json(_event_row(created)),
                    _json([_clock_row(ticket.id, c) for c in clocks]),
                    done.record_id if done else None, done.status if done else None,
                    done.body_json() if done else None, done.resource_id if done else None,
                )  # fmt: skip
            except asyncpg.UniqueViolationError as exc:
                if getattr(exc, "constraint_name", "") == _NUMBER_TAKEN:
                    continue
                raise
            return Opened(ticket.id, body) if opened else None
    raise RuntimeError("could not draw a unique ticket number")


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _ticket_json(t: Ticket) -> str:
    return _json({c.name: getattr(t, c.key, None) for c in Ticket.__mapper__.columns})


def _event_row(e: TicketEvent) -> dict[str, Any]:
    return {c.name: getattr(e, c.key) for c in TicketEvent.__mapper__.columns}


def _clock_row(ticket_id: str, e: ClockEvent) -> dict[str, Any]:
    return {"id": new_id(), "ticket_id": ticket_id, "seq": e.seq, "clock": e.clock,
            "kind": e.kind, "at": e.at}  # fmt: skip
