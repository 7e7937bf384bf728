"""One number's texts are handled one at a time, in the order they arrived.

Within a process an asyncio lock per number queues them first-come first-served, so waiting
texts hold no database connection (fifty waiters on one pool would starve the one holding
the lock). Across processes (several `hotline serve` workers) the handling transaction takes
a PostgreSQL advisory transaction lock on the number; SQLite (`make run`) is one process,
where the asyncio lock is all there is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

import auth
from core.db import UtcDateTime, is_postgres
from core.sms import SmsInbound

from . import budget


class SenderLocks:
    """Per-number asyncio locks, dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, phone: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(phone, (asyncio.Lock(), 0))
        self._locks[phone] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[phone]
            if users <= 1:
                del self._locks[phone]
            else:
                self._locks[phone] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)

    def queued(self, phone: str) -> int:
        """Texts from this number holding or waiting for its lock in this process."""
        return self._locks.get(phone, (None, 0))[1]


@dataclass(frozen=True, slots=True)
class Opening:
    """What the handling transaction reads right after the sender's lock, in one statement."""

    stored_reply: str | None  # a gateway retry: the reply already given
    customer_id: str | None
    locale: str | None
    replies: int  # replies to the number in the last hour (the pumping budget)


LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


def _opening() -> Any:  # a Select of (reply, customer id, locale, reply count)
    """Built once (building a statement costs more than running it); values are bound."""
    phone = bindparam("phone", type_=String)
    stored = select(SmsInbound.reply).where(SmsInbound.message_sid == bindparam("sid"))
    replies = budget.replies_to(phone, bindparam("since", type_=UtcDateTime()))
    one = select(literal(1).label("one")).subquery("one")
    return select(
        stored.scalar_subquery(), auth.Customer.id, auth.Customer.locale, replies
    ).select_from(one.outerjoin(auth.Customer, auth.Customer.phone == phone))


_OPENING = _opening()
# The same read for PostgreSQL, sent on the transaction's own asyncpg connection: SQLAlchemy's
# statement machinery costs several times asyncpg's on this path, which runs for every text.
_OPENING_COLUMNS = (
    "SELECT (SELECT reply FROM sms_inbound WHERE message_sid = $1), c.id, c.locale,"
    " (SELECT count(*) FROM sms_messages m WHERE m.to = $2 AND m.created_at > $3"
    " AND m.direction = 'out' AND m.purpose = ANY($4::varchar[]))"
)
_OPENING_FROM = " FROM (SELECT 1) AS one LEFT JOIN customers c ON c.phone = $2"
_OPENING_PG = _OPENING_COLUMNS + _OPENING_FROM


def opening_and(read: str, columns: str, order_by: str) -> str:
    """The opening read and a command's own read in one statement (one round trip): `read`
    is a SELECT in terms of the customer's id (`c.id`) and placeholders from $5, joined as
    `x` to the opening's row; a row per row of it (one, all NULL, when it finds none), each
    with the opening's columns first, then `columns` of `x`, ordered by `order_by`."""
    return (
        f"{_OPENING_COLUMNS}, {columns}{_OPENING_FROM}"
        f" LEFT JOIN LATERAL ({read}) AS x ON true ORDER BY {order_by}"
    )


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (begun by a statement already
    sent through SQLAlchemy, so what runs on it is inside that transaction)."""
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


def lock_name(lock_key: str) -> str:
    """What LOCK takes for a number (the same in every process and on every path)."""
    return f"sms:{lock_key}"


async def read_opening(pg: Any, message_sid: str, phone: str | None, now: datetime) -> Opening:
    """The opening read on an asyncpg connection, after LOCK in the same transaction."""
    found = await pg.fetchrow(_OPENING_PG, *opening_values(message_sid, phone, now))
    return opening_of(found)


def opening_values(message_sid: str, phone: str | None, now: datetime) -> tuple[Any, ...]:
    """The opening read's values, $1 to $4."""
    return message_sid, phone or "", now - budget.HOUR, list(budget.REPLY_PURPOSES)


def opening_of(row: Any) -> Opening:
    return Opening(row[0], row[1], row[2], int(row[3] or 0))


async def lock_and_read(
    session: AsyncSession, lock_key: str, message_sid: str, phone: str | None, now: datetime
) -> Opening:
    """The cross-process half of the ordering (a PostgreSQL advisory transaction lock, held
    until the handling transaction ends), then the reply already stored for `message_sid`,
    the customer and their reply count in one statement. Two statements, not one: a
    statement's snapshot is taken when it starts, so a read in the statement that waited for
    the lock would not see what the previous holder committed (its reply, its count)."""
    if is_postgres(session):
        # Sent through SQLAlchemy, which begins the transaction; as the driver's own SQL
        # (the ORM's statement machinery cost more than the statement).
        connection = await session.connection()
        await connection.exec_driver_sql(LOCK, (lock_name(lock_key),))
        pg: Any = (await connection.get_raw_connection()).driver_connection
        return await read_opening(pg, message_sid, phone, now)
    values = {"sid": message_sid, "phone": phone or "", "since": now - budget.HOUR}
    row = (await session.execute(_OPENING, values)).one()
    return Opening(row[0], row[1], row[2], int(row[3] or 0))
