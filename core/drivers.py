"""asyncpg's own pool, beside SQLAlchemy's, for the few statements on the hottest paths.

Placing an order and checking a token run as plain SQL on an asyncpg connection (see
commerce/placing_pg.py). Borrowing that connection from SQLAlchemy's pool cost two greenlet
switches and the pool's checkout and reset bookkeeping per use, the largest single item in
a profile of the rush; asyncpg's pool hands one out in a few microseconds. PostgreSQL only.

Connections are opened lazily (a runtime that never places an order opens none) and are
not given asyncpg's full reset when they come back (it would cost a round trip per use):
these statements leave no session state behind (no LISTEN, no session-level advisory locks,
no cursors; settings and the SMS path's advisory lock are transaction-local). Most statements
are their own transaction; the few that open one (api/sms_channel/read_only.py) end it
themselves, and asyncpg still rolls back a transaction left open on a returned connection
before our `_keep` runs.

A connection the server dropped (a restart, pg_terminate_backend) is terminated here when a
statement fails on it, so the pool opens a fresh one instead of lending the dead one again;
reads may use `read`, which retries once on that fresh connection. Writes are not retried
(whether the statement ran is unknown): the error reaches api/outages.py, which answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from functools import cache
from types import SimpleNamespace
from typing import Any, TypeVar

import asyncpg
import msgspec
from sqlalchemy.engine import make_url

from core.db import Base

# Few on purpose. Every order statement waits on its offer's row lock inside PostgreSQL, and
# there each commit wakes every waiter on that row to fight for it again: past a handful of
# waiters the database spends itself on the queue. Waiting for a pooled connection here is
# cheap instead. On the 2-CPU rush (bench/rush.py, 2 processes): 292-338 orders/s at 16,
# 544-877 at 8, 596-800 at 4-6.
MAX_SIZE = 8
T = TypeVar("T")
U = TypeVar("U")


def connection_lost(exc: BaseException) -> bool:
    """True when asyncpg says the connection is gone, not that the statement was wrong: closed
    (08xxx, 'connection is closed'), the server shutting down or starting (57P01-57P03), or the
    protocol knocked out of step by the FATAL message a terminated backend sends while idle
    ('cannot switch to state ..; another operation (2) is in progress')."""
    errors = asyncpg.exceptions
    if isinstance(exc, errors.PostgresConnectionError | errors.OperatorInterventionError):
        return True
    if isinstance(exc, errors.InterfaceError) and "closed" in str(exc):
        return True
    return isinstance(exc, errors.InternalClientError) and "another operation" in str(exc)


class DriverPool:
    def __init__(self, database_url: str, *, max_size: int = MAX_SIZE) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        pool = self._pool or await self._open()
        async with pool.acquire() as connection:
            try:
                yield connection
            except Exception as exc:
                if connection_lost(exc):
                    # the pool replaces a closed connection; one it noticed closed itself is
                    # already detached from this proxy, which then refuses any call
                    with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                        connection.terminate()
                raise

    async def read(self, query: Callable[[Any], Awaitable[T]]) -> T:
        """Run a read-only `query(connection)`; on a lost connection, once more on a fresh one
        (a database restart then costs the request nothing)."""
        return await self.read_then(query, _found)

    async def read_then(
        self, query: Callable[[Any], Awaitable[T]], then: Callable[[Any, T], Awaitable[U]]
    ) -> U:
        """The read-only `query(connection)`, then `then(connection, found)` on the same
        connection: one checkout where two would each cost the pool's and the context
        managers' bookkeeping (a tenth of a carrier charge's Python time, by py-spy). A
        connection lost during the read is replaced and the read runs once more; `then`, a
        write, is never retried (whether it ran is unknown)."""
        retried = False
        while True:
            reading = True
            try:
                async with self.connection() as connection:
                    found = await query(connection)
                    reading = False
                    return await then(connection, found)
            except Exception as exc:
                if not reading or retried or not connection_lost(exc):
                    raise
                retried = True

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self._max_size, reset=_keep
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()


async def _found(connection: Any, found: T) -> T:
    """`read`'s nothing-after-the-read for read_then."""
    return found


async def _keep(connection: Any) -> None:
    """Nothing to reset (see the module docstring)."""


def as_rows(records: Iterable[Any]) -> list[SimpleNamespace]:
    """asyncpg records as plain objects read by attribute (`row.status`), as the rooms' ORM
    entities are read, so pages and views take either. A record itself would not do: its
    `keys`, `values`, `items` and `get` methods shadow columns of those names in a template."""
    return [SimpleNamespace(**dict(r)) for r in records]


def column_values(obj: Base) -> dict[str, Any]:
    """Every column of an ORM row by name, as a PostgreSQL function's jsonb_populate_record
    reads it (a column left None that may not be NULL fails loudly in the function)."""
    return {name: getattr(obj, key) for name, key in _columns(type(obj))}


@cache
def _columns(model: type[Base]) -> tuple[tuple[str, str], ...]:
    """(column name, attribute) of a model's table, read once: iterating the table's column
    collection on every row was a visible share of a charge's time in a profile."""
    return tuple((c.name, c.key) for c in model.__table__.columns)


def to_json(value: Any) -> str:
    """JSON text for a function's json/jsonb argument (msgspec: datetimes as ISO 8601)."""
    return msgspec.json.encode(value).decode()
