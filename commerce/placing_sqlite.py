"""The SQLite adapter of commerce.placing.OrderPlacement: plain inserts, then the hold.

The order, its items and its first history row are inserted, then the Idempotency-Key's
reply, and last capacity.hold takes the seats with one conditional UPDATE per offer carrying
every guard of commerce/guards.py, as commerce_place_order does on PostgreSQL. A refusal
raises the same domain error; `place` then rolls everything back with its session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Unpack, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import idempotency
from core.errors import ValidationFailed
from core.settings import Settings

from . import capacity, guards
from .domain import new_order_number
from .draft import OrderRequest, Respond
from .models import Order, OrderEvent, OrderItem

ORDERS = cast(Table, Order.__table__)
# Built once: statements made per request cost more Python time than their round trips.
_INSERT_ORDER = (
    sqlite.insert(ORDERS).on_conflict_do_nothing(index_elements=["number"]).returning(ORDERS.c.id)
)
_INSERT_ITEMS = insert(cast(Table, OrderItem.__table__))
_INSERT_EVENT = insert(cast(Table, OrderEvent.__table__))


class SqlitePlacement:
    def __init__(
        self, settings: Settings, sessions: async_sessionmaker[AsyncSession] | None
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._guarded = guards.guarded(settings)

    async def place(
        self, *, now: datetime, respond: Respond | None = None, **order: Unpack[OrderRequest]
    ) -> Order:
        if self._sessions is None:
            raise RuntimeError("placing an order on its own needs the runtime's sessions")
        async with self._sessions() as session:
            placed = await self.place_in(session, now=now, respond=respond, **order)
            await session.commit()
            return placed

    async def place_in(
        self,
        session: AsyncSession,
        *,
        now: datetime,
        respond: Respond | None = None,
        **order: Unpack[OrderRequest],
    ) -> Order:
        _, held, draft = await capacity.quote_in(session, order, settings=self._settings, now=now)
        try:
            number = await _insert_with_unique_number(session, draft.values)
            await session.execute(_INSERT_ITEMS, draft.items)
            await session.execute(_INSERT_EVENT, draft.event)
        except DBAPIError as exc:
            raise capacity.busy_or_raise(exc) from None
        placed = draft.attach(session, number)
        done = respond(placed) if respond is not None else None
        if done is not None:
            await idempotency.store(session, done)
        # Last: the conditional update takes the offer rows' locks, held until the commit.
        await capacity.hold(session, held, now=now, guarded=self._guarded)
        return placed


async def _insert_with_unique_number(session: AsyncSession, values: dict[str, object]) -> str:
    """Order numbers are random (31^8 of them); on the rare collision with the unique index,
    draw again. ON CONFLICT DO NOTHING keeps the transaction usable for the retry."""
    for _ in range(5):
        number = new_order_number()
        try:
            inserted = await session.scalar(_INSERT_ORDER, {**values, "number": number})
        except IntegrityError:
            raise ValidationFailed.field("customer_id", "no such customer") from None
        if inserted is not None:
            return number
    raise RuntimeError("could not draw a unique order number")
