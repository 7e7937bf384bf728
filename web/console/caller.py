"""Everything on the caller's screen, read through the rooms' own functions: profile and
phone account (auth, payments), orders with payments and shipments (commerce, payments,
fulfillment), tickets with SLA state (ticketing, read as the customer would list them) and
the latest texts. One read, no writes.

Two ways to read it, giving the same page (tests/integration/web/test_console_caller_pg.py):
`load_caller` through the rooms' ORM functions on a session (the plain path, and the only
one without PostgreSQL), and `load_caller_on` in one plain-SQL statement put together from
the rooms' own pieces (payments.carrier's customer with account, fulfillment's order
history, ticketing's contacts) on one pooled asyncpg connection (core/drivers.py). The
record is opened on every call and every live refresh of its panels; through the ORM its ten
statements cost ~15 ms of CPU against ~1 ms for a token-checked trivial GET
(bench/console.py), nearly all of it SQLAlchemy's statement building, unit of work and
entity loading, none of which a read-only page needs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import auth
import commerce
import fulfillment
import payments
import ticketing
from core.errors import NotFound
from core.principal import Principal
from core.runtime import Runtime
from core.sms import SmsOutbox

RECENT_ORDERS = 8
RECENT_TICKETS = 8
RECENT_SMS = 5
RECENT_NOTES = 5  # ticketing.call_notes_for's default


# The record's rows are the rooms' entities (`load_caller`) or plain rows with the same
# attribute names (`load_caller_on`): hence `Any` where an entity type would stand.
@dataclass
class OrderRow:
    order: commerce.Order | Any
    payments: list[payments.Payment | Any] = field(default_factory=list)
    shipments: list[Any] = field(default_factory=list)


@dataclass
class TicketRow:
    ticket: ticketing.Ticket | Any
    view: dict[str, Any]


@dataclass
class Caller:
    customer: auth.Customer | Any
    account: payments.PhoneAccount | Any | None
    orders: list[OrderRow]
    tickets: list[TicketRow]
    sms: list[Any]
    verified_until: datetime | None
    notes: list[ticketing.CallNote | Any] = field(default_factory=list)

    def minutes_left(self, now: datetime) -> int:
        if self.verified_until is None or self.verified_until <= now:
            return 0
        return max(1, int((self.verified_until - now).total_seconds() // 60))


@asynccontextmanager
async def read_only(runtime: Runtime) -> AsyncIterator[AsyncSession]:
    """A session on the autocommit pool, for a page or live event that only reads. Each SELECT
    stands alone, as it already did inside the request's READ COMMITTED transaction (one
    snapshot per statement), minus that transaction's BEGIN and COMMIT round trips: two of
    the ~15 the caller's record paid (bench/console.py)."""
    async with AsyncSession(bind=runtime.autocommit(), expire_on_commit=False) as session:
        yield session


async def order_row(session: AsyncSession, order: commerce.Order) -> OrderRow:
    return OrderRow(
        order,
        await payments.payments_for_order(session, order.id),
        await fulfillment.order_shipments(session, order.id),
    )


async def load_caller(
    session: AsyncSession,
    me: Principal,
    customer_id: str,
    *,
    sms: SmsOutbox,
    verified_until: datetime | None,
    now: datetime,
) -> Caller:
    customer = await auth.get_customer(session, customer_id)
    page = await commerce.list_orders(
        session, me, customer_id=customer.id, limit=RECENT_ORDERS, with_items=False
    )
    ids = [o.id for o in page.items]
    paid = await payments.payments_for_orders(session, ids)
    shipped = await fulfillment.shipments_for_orders(session, ids)
    orders = [OrderRow(o, paid[o.id], shipped[o.id]) for o in page.items]
    # the customer's own tickets, as the customer would list them; viewed with the agent's eyes
    theirs = Principal("customer", customer.id)
    listed = await ticketing.list_tickets(session, theirs, now=now, limit=RECENT_TICKETS)
    views = await ticketing.ticket_summaries(session, listed.items, now)
    tickets = [TicketRow(t, view) for t, view in zip(listed.items, views, strict=True)]
    texts = await sms.outbox(session, customer.phone, limit=RECENT_SMS)
    account = await payments.carrier.account_for(session, customer.id)
    notes = await ticketing.call_notes_for(session, customer.id)
    return Caller(customer, account, orders, tickets, texts, verified_until, notes)


async def load_caller_on(
    driver: Any,
    me: Principal,
    customer_id: str,
    *,
    sms: SmsOutbox,
    verified_until: datetime | None,
    now: datetime,
) -> Caller:
    """`load_caller` on an asyncpg connection, in one statement (`_RECORD`); the notes carry
    their agent's name (`agent_name`). `sms` is not used (the texts are read with the rest)
    but kept so both loaders take the same arguments."""
    shows_orders = fulfillment.may_read_history(me, customer_id)
    found = await driver.fetchrow(
        _RECORD, customer_id, RECENT_ORDERS if shows_orders else 0, RECENT_TICKETS,
        RECENT_NOTES, RECENT_SMS,
    )  # fmt: skip
    if found is None:
        raise NotFound("no such customer")
    customer, account = payments.carrier.customer_account_from(found)
    orders = [OrderRow(*row) for row in fulfillment.order_history_from(found["orders"])]
    seen = ticketing.contacts_from(found, now)
    tickets = [TicketRow(t, view) for t, view in seen.tickets]
    return Caller(customer, account, orders, tickets, seen.texts, verified_until, seen.notes)


# The whole record in one statement, from the rooms' own SQL (payments.carrier's customer
# with account, fulfillment's order history, ticketing's contacts): each statement is a round
# trip, ~70 us of the server's CPU under load (py-spy on bench/console.py) besides the
# database's own work, and the record is read on every open and live refresh of the page.
_RECORD = (
    f"SELECT {payments.carrier.CUSTOMER_ACCOUNT_COLUMNS},"  # noqa: S608 - the rooms' constant SQL
    f" {fulfillment.order_history_sql('c.id', '$2')} AS orders,"
    f" {ticketing.contacts_sql('c.id', 'c.phone', tickets='$3', notes='$4', texts='$5')}"
    f" FROM {payments.carrier.CUSTOMER_ACCOUNT_FROM} WHERE c.id = $1"
)
