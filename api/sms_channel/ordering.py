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

from sqlalchemy import String, bindparam, func, literal, select
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


@dataclass(frozen=True, slots=True)
class Opening:
    """What the handling transaction reads right after the sender's lock, in one statement."""

    stored_reply: str | None  # a gateway retry: the reply already given
    customer_id: str | None
    locale: str | None
    replies: int  # replies to the number in the last hour (the pumping budget)


def _opening(lock: bool) -> Any:  # a Select of (reply, customer id, locale, count)
    """Built once (building a statement costs more than running it); values are bound."""
    if lock:
        held = func.pg_advisory_xact_lock(func.hashtextextended(bindparam("key"), 0))
        first = select(held.label("held")).subquery("locked")
    else:  # one process (SQLite): the asyncio lock is all there is
        first = select(literal(1).label("one")).subquery("one")
    phone = bindparam("phone", type_=String)
    stored = select(SmsInbound.reply).where(SmsInbound.message_sid == bindparam("sid"))
    replies = budget.replies_to(phone, bindparam("since", type_=UtcDateTime()))
    return select(
        stored.scalar_subquery(), auth.Customer.id, auth.Customer.locale, replies
    ).select_from(first.outerjoin(auth.Customer, auth.Customer.phone == phone))


_OPENING = {True: _opening(lock=True), False: _opening(lock=False)}


async def lock_and_read(
    session: AsyncSession, lock_key: str, message_sid: str, phone: str | None, now: datetime
) -> Opening:
    """The cross-process half of the ordering (a PostgreSQL advisory transaction lock, held
    until the handling transaction ends) and, after it, the reply already stored for
    `message_sid`, the customer and their reply count, in one round trip. The lock is in
    FROM; the sub-selects of the select list are InitPlans, run when their value is first
    needed, so after it."""
    values = {
        "key": f"sms:{lock_key}",
        "sid": message_sid,
        "phone": phone or "",
        "since": now - budget.HOUR,
    }
    pg = is_postgres(session)
    if not pg:
        del values["key"]
    row = (await session.execute(_OPENING[pg], values)).one()
    return Opening(row[0], row[1], row[2], int(row[3] or 0))
