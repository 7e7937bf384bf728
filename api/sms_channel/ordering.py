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

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres

# The lock first (a volatile function in FROM is run before the select list's sub-select,
# an InitPlan evaluated when its value is first needed), then the stored reply, if any.
_LOCK_AND_LOOK = text(
    "SELECT (SELECT reply FROM sms_inbound WHERE message_sid = :sid)"
    " FROM (SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))) AS locked"
)
_LOOK = text("SELECT reply FROM sms_inbound WHERE message_sid = :sid")


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


async def lock_sender(session: AsyncSession, phone: str, message_sid: str) -> str | None:
    """The cross-process half, held until the handling transaction ends, and the reply
    already stored for `message_sid` (a gateway retry), in one round trip."""
    if is_postgres(session):
        found = await session.scalar(_LOCK_AND_LOOK, {"key": f"sms:{phone}", "sid": message_sid})
    else:
        found = await session.scalar(_LOOK, {"sid": message_sid})
    return None if found is None else str(found)
