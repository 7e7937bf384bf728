"""Placing an order: one port, two adapters, chosen once per process (api.composition)
from the engine's dialect.

`OrderPlacement.place` is a unit of work of its own (the order, its hold and the commit, with
the Idempotency-Key's reply): what POST /v1/orders does, and under a ticket rush the whole
cost. `place_in` writes the same rows inside the caller's transaction and never commits, for
jobs, tests and other rooms that compose an order with their own writes (`service.place_order`).

- PostgreSQL (placing_pg.py): the function `commerce_place_order` (migrations 0006) writes the
  order and takes the seats in one statement, on asyncpg's pool (`place`) or on the caller's
  connection (`place_in`).
- SQLite (placing_sqlite.py): plain inserts, then capacity.hold's conditional UPDATE.

Both quote, guard and refuse as commerce/guards.py says, with the same domain errors: SoldOut,
Busy (price changed, lock timeout), ValidationFailed. The oversell canary's switch is read once,
when the adapter is built (guards.guarded).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, Unpack

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.runtime import Runtime
from core.settings import Settings

from .draft import OrderRequest, Placed, Respond
from .placing_pg import PostgresPlacement
from .placing_sqlite import SqlitePlacement


class OrderPlacement(Protocol):
    async def place(
        self, *, now: datetime, respond: Respond | None = None, **order: Unpack[OrderRequest]
    ) -> Placed:
        """Place an `awaiting_payment` order and commit it, with the reply `respond` returns
        for it. Raises SoldOut, Busy or ValidationFailed, having written nothing."""
        ...

    async def place_in(
        self,
        session: AsyncSession,
        *,
        now: datetime,
        respond: Respond | None = None,
        **order: Unpack[OrderRequest],
    ) -> Placed:
        """The same, in the caller's transaction (commit promptly: the offer rows stay locked
        until then). Raises the same; after a refusal the caller rolls back."""
        ...


def placement(runtime: Runtime) -> OrderPlacement:
    """The adapter for this runtime's database. Build it once per process and keep it
    (api.composition does): the oversell canary's switch is read when it is built."""
    if is_postgres(runtime.engine):
        return PostgresPlacement(runtime.settings, runtime.drivers)
    return SqlitePlacement(runtime.settings, runtime.sessions)


def placement_in(session: AsyncSession, settings: Settings) -> OrderPlacement:
    """The adapter for a caller that has only its session (`service.place_order`): only its
    `place_in` may be used."""
    if is_postgres(session):
        return PostgresPlacement(settings, None)
    return SqlitePlacement(settings, None)
