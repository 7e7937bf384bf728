"""A customer's contact history for the caller's record in one statement on an asyncpg
connection (core.drivers): their latest tickets with SLA views, the agents' wrap-up notes and
the texts to or from their phone.

The same rows as customer_tickets_on, call_notes_on and core.sms's SmsOutbox.outbox_on read
one after another: each cost the page a round trip to PostgreSQL (~35 us of the server's CPU
for the driver and event loop, and the database's own share of the same machine), on every
open and live refresh of the record (bench/console.py). The three lists come back as arrays
of rows; `contacts_sql` is the read as columns, for a page that folds it into a wider
statement (web/console/caller.py). tests/integration/web/test_console_record_pg.py compares
them with those reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from .models import Ticket
from .timeline import ClockEvent
from .views import ticket_summary

_TICKET = (
    "id", "number", "status", "category", "priority", "channel", "customer_id", "queue_id",
    "assignee_id", "subject", "description", "reopen_count", "satisfaction", "policy",
    "calendar", "created_at", "first_responded_at", "resolved_at", "closed_at", "queue_code",
    "clock_events",
)  # fmt: skip
_NOTE = ("id", "customer_id", "agent_id", "body", "created_at", "agent_name")
_TEXT = ("id", "to", "from_phone", "direction", "body", "purpose", "status", "created_at")


def contacts_sql(customer: str, phone: str, *, tickets: str, notes: str, texts: str) -> str:
    """SQL columns `tickets`, `notes` and `texts`: arrays of rows for `contacts_from`. The
    arguments are SQL expressions (placeholders such as `$1`, or an outer query's columns)."""
    return (  # the arguments are the caller's SQL: placeholders or column names
        "ARRAY(SELECT ROW(t.id, t.number, t.status, t.category, t.priority, t.channel,"  # noqa: S608
        " t.customer_id, t.queue_id, t.assignee_id, t.subject, t.description, t.reopen_count,"
        " t.satisfaction, t.policy, t.calendar, t.created_at, t.first_responded_at,"
        " t.resolved_at, t.closed_at, q.code, ARRAY(SELECT ROW(e.clock, e.kind, e.at, e.seq)"
        " FROM ticket_clock_events e WHERE e.ticket_id = t.id ORDER BY e.at, e.seq))"
        " FROM tickets t LEFT JOIN ticket_queues q ON q.id = t.queue_id"
        f" WHERE t.customer_id = {customer} ORDER BY t.created_at DESC, t.id DESC"
        f" LIMIT {tickets}) AS tickets,"
        " ARRAY(SELECT ROW(n.id, n.customer_id, n.agent_id, n.body, n.created_at,"
        " a.display_name) FROM call_notes n LEFT JOIN agents a ON a.id = n.agent_id"
        f" WHERE n.customer_id = {customer} ORDER BY n.created_at DESC, n.id DESC"
        f" LIMIT {notes}) AS notes,"
        ' ARRAY(SELECT ROW(m.id, m."to", m.from_phone, m.direction, m.body, m.purpose,'
        f' m.status, m.created_at) FROM sms_messages m WHERE m."to" = {phone}'
        f" OR m.from_phone = {phone} ORDER BY m.created_at DESC LIMIT {texts}) AS texts"
    )


@dataclass
class Contacts:
    tickets: list[tuple[Any, dict[str, Any]]]  # (ticket row, its `ticket_summaries` view)
    notes: list[Any]  # call_notes_on's rows, with `agent_name`
    texts: list[Any]  # outbox_on's rows


def _row(names: tuple[str, ...], values: Any) -> SimpleNamespace:
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


def contacts_from(found: Any, now: datetime) -> Contacts:
    """The `tickets`, `notes` and `texts` columns of `contacts_sql` as rows read by
    attribute, each ticket with its SLA view at `now`."""
    listed = []
    for values in found["tickets"]:
        t = _row(_TICKET, values)
        events = [ClockEvent(*e) for e in t.clock_events]
        t.policy, t.calendar = json.loads(t.policy), json.loads(t.calendar)
        listed.append((t, ticket_summary(cast(Ticket, t), events, t.queue_code, now)))
    return Contacts(
        listed,
        [_row(_NOTE, v) for v in found["notes"]],
        [_row(_TEXT, v) for v in found["texts"]],
    )


async def contacts_on(
    driver: Any,
    customer_id: str,
    phone: str,
    now: datetime,
    *,
    tickets: int,
    notes: int,
    texts: int,
) -> Contacts:
    """The newest `tickets`, `notes` and `texts` of the customer (texts by `phone`), as
    customer_tickets_on, call_notes_on and outbox_on give them."""
    sql = "SELECT " + contacts_sql("$1", "$4", tickets="$2", notes="$3", texts="$5")
    return contacts_from(await driver.fetchrow(sql, customer_id, tickets, notes, phone, texts), now)
