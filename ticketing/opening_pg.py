"""A customer's new ticket on PostgreSQL in one statement on asyncpg's pool (core/drivers.py),
instead of ~40 through the session (bench/ticketing.py: the plain way spent its time in the
ORM's unit of work and its round trips: the key's claim, number check, savepointed timeline
row, max(seq) reads, clock events read back, the drain's four queries, the view's five).

1. This module builds the ticket, its `created` row and clock events, their next look and
   breach moment (timeline.next_looks, as append_clock computes them) and the answer (views.
   new_ticket_view) in memory, on the queue, calendar and SLA policy the database last said
   (TicketOpening keeps them);
2. `ticketing_open_ticket` (migrations 0014), its own transaction, checks that setup is still
   current, takes the queue's drain lock, and only when no member agent has room (no drain
   could assign the ticket then, so leaving it unassigned is what the plain way does too)
   claims the Idempotency-Key as completed with the answer and writes the rows. The lock is
   held only inside PostgreSQL.

Everything else takes the plain way (`open` returns None, nothing written): an agent with room
(the plain drain assigns), a key already used (the plain way replays it, or says 409/422), a
queue or the default queue not found (the plain way says so, or creates it), orders named or an
agent opening for a customer (the controller does not come here). A setup that changed, or a
ticket number drawn twice, is built again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from core.db import new_id
from core.drivers import DriverPool, column_values, to_json
from core.idempotency import KEY_TTL, KeyedRequest
from core.principal import Principal

from .domain import FIRST_RESPONSE, RESOLUTION, START, ClockEvent, Status, new_ticket_number
from .models import Ticket, TicketEvent
from .service import check_ticket
from .setup import DEFAULT_QUEUE, policy_of
from .timeline import next_looks
from .views import new_ticket_view

_OPEN = "SELECT ticketing_open_ticket($1, $2, $3, $4, $5, $6, $7)"
_NUMBER_TAKEN = "uq_tickets_number"
_TRIES = 5  # a setup changed meanwhile, or a ticket number drawn twice: build again
Setup = dict[str, Any]  # queue_id, code, calendar, policy: as ticketing_open_ticket builds it


@dataclass(frozen=True)
class Opened:
    ticket_id: str
    body: dict[str, Any]  # the customer's ticket_view of it


class TicketOpening:
    """Opens customers' tickets in one call; one per process (api.composition). It keeps the
    setups (queue, calendar, policy) the database last confirmed for each asked queue,
    category and priority: the function checks the one used against the tables on every
    call, so an admin's change costs one more round trip and is never missed. Only setups of
    existing queues are kept, so the store stays as small as the ticketing configuration."""

    def __init__(self, drivers: DriverPool) -> None:
        self._drivers = drivers
        self._setups: dict[tuple[str | None, str, str], Setup] = {}

    async def open(
        self,
        principal: Principal,
        *,
        now: datetime,
        category: str,
        subject: str,
        description: str,
        priority: str,
        channel: str | None,
        queue: str | None,
        keyed: KeyedRequest | None,
    ) -> Opened | None:
        """Open the customer's own ticket and commit it (with its Idempotency-Key claimed and
        its answer stored); None when it must be opened the plain way (nothing written)."""
        if not principal.is_customer:
            return None
        channel, subject, description = check_ticket(
            principal, category, priority, channel, subject, description
        )
        asked = (queue, category, priority)
        ask = to_json({"queue": queue, "category": category, "priority": priority,
                       "default": DEFAULT_QUEUE})  # fmt: skip
        async with self._drivers.connection() as pg:
            for _ in range(_TRIES):
                setup = self._setups.get(asked)
                args: list[Any] = [ask, None, None, None, None, None, None]
                built = None
                if setup is not None:
                    built = _build(principal, setup, now, category, priority, channel, subject,
                                   description)  # fmt: skip
                    args = [ask, to_json(setup), *built.args(keyed, now)]
                try:
                    said = msgspec.json.decode(await pg.fetchval(_OPEN, *args))
                except asyncpg.UniqueViolationError as exc:
                    if getattr(exc, "constraint_name", "") == _NUMBER_TAKEN:
                        continue  # nothing written: draw another number
                    raise
                if "setup" in said:
                    self._setups[asked] = said["setup"]
                    continue
                if said.get("plain") == "queue":
                    self._setups.pop(asked, None)
                if said.get("opened") and built is not None:
                    return Opened(built.ticket.id, built.body)
                return None
        raise RuntimeError("could not open the ticket in one call")


@dataclass(frozen=True)
class _Built:
    ticket: Ticket
    created: TicketEvent
    clocks: list[ClockEvent]
    body: dict[str, Any]

    def args(self, keyed: KeyedRequest | None, now: datetime) -> list[Any]:
        key = None
        if keyed is not None:
            key = to_json({"id": new_id(), "scope": keyed.scope, "key": keyed.key,
                           "fingerprint": keyed.fingerprint, "status": 201, "created_at": now,
                           "expires_at": now + KEY_TTL})  # fmt: skip
        return [
            to_json(column_values(self.ticket)),
            to_json(column_values(self.created)),
            to_json([{"id": new_id(), "ticket_id": self.ticket.id, "seq": c.seq, "clock": c.clock,
                    "kind": c.kind, "at": c.at} for c in self.clocks]),
            key,
            json.dumps(self.body) if key else None,  # as the JSON column stores it (complete())
        ]  # fmt: skip


def _build(
    principal: Principal,
    setup: Setup,
    now: datetime,
    category: str,
    priority: str,
    channel: str,
    subject: str,
    description: str,
) -> _Built:
    """The ticket, its rows, next look and answer, as service.open_ticket would make them."""
    policy = policy_of(tuple(setup["policy"]) if setup["policy"] else None, priority)
    ticket = Ticket(
        id=new_id(), number=new_ticket_number(), category=category, priority=priority,
        channel=channel, customer_id=principal.id, queue_id=setup["queue_id"], assignee_id=None,
        subject=subject, description=description, status=Status.NEW.value, reopen_count=0,
        policy=policy, calendar=setup["calendar"], source_key=None, created_by=principal.actor,
        created_at=now, updated_at=now,
    )  # fmt: skip
    created = TicketEvent(
        id=new_id(), ticket_id=ticket.id, seq=1, kind="created", actor=principal.actor,
        channel=channel, before=None, public=True, at=now,
        after={"status": "new", "category": category, "priority": priority,
               "queue": setup["code"], "orders": []},
    )  # fmt: skip
    clocks = [ClockEvent(FIRST_RESPONSE, START, now, 1), ClockEvent(RESOLUTION, START, now, 2)]
    looks = next_looks(ticket, clocks, now)
    moments = [*looks.moments, now] if looks.reached else looks.moments  # nothing fired yet
    ticket.check_at = min(moments) if moments else None
    ticket.breach_at = looks.breach_at
    body = new_ticket_view(ticket, looks.states, setup["code"], created, now)
    return _Built(ticket, created, clocks, body)
