"""Placing an order as a unit of work of its own: the order, its hold and the commit at once.

`service.place_order` works inside the caller's transaction, so jobs, tests and other rooms
can compose it with their own writes. A request that only places an order needs none of that,
and under a ticket rush it is the whole cost. On PostgreSQL this quotes (commerce/quotes.py,
mostly from memory), then calls `commerce_place_order` (migrations/versions/0006) on a pooled
asyncpg connection (core/drivers.py) without BEGIN/COMMIT: one round trip, where the session
path took seven through SQLAlchemy. The hot offer row is locked only inside PostgreSQL, from
the conditional UPDATE to the commit at the end of that one statement. The guard is the same
conditional UPDATE in offer-id order, and so are the refusals. On SQLite it is
`service.place_order` in a session of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Unpack

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import idempotency
from core.drivers import DriverPool
from core.errors import Busy, ValidationFailed
from core.idempotency import Completion
from core.settings import Settings

from . import capacity, quotes
from .capacity import HeldLine, check_quote
from .domain import new_order_number
from .draft import Draft, OrderRequest, PlacedOrder, check_request, draft_order
from .errors import SoldOut
from .models import Order
from .service import place_order

Placed = Order | PlacedOrder  # SQLite's session path hands back the ORM row

Respond = Callable[[Placed], Completion | None]

_PLACE = "SELECT commerce_place_order($1, $2, $3, $4, $5, $6, $7, $8)"
_NOT_HELD = "HL001"  # commerce_place_order: a line's conditional UPDATE matched no row
_NUMBER_TAKEN = "uq_orders_number"


async def place_order_committed(
    drivers: DriverPool | None,
    sessions: async_sessionmaker[AsyncSession],
    *,
    settings: Settings,
    now: datetime,
    respond: Respond | None = None,
    **order: Unpack[OrderRequest],
) -> Placed:
    """Place an `awaiting_payment` order and commit it, with the response `respond` returns
    for it (an Idempotency-Key's stored reply) committed in the same transaction.

    Raises what `service.place_order` raises: ValidationFailed, SoldOut, Busy."""
    respond = respond or (lambda _: None)
    if drivers is None:  # SQLite
        return await _in_session(sessions, respond, settings=settings, now=now, **order)
    asked = check_request(order)
    guarded = capacity.guarded(settings)
    async with drivers.connection() as pg:
        # The canary's unguarded write needs what the database said just now.
        rows = await quotes.quote_rows(pg, asked.lines, fresh=not guarded)
        held = check_quote(asked.lines, rows, now)
        draft = draft_order(held, asked, settings=settings, now=now)
        # The oversell canary's bug (HOTLINE_TEST_UNGUARDED_HOLDS, test env only): write
        # back what this quote read, unconditionally.
        seen = None if guarded else [rows[h.offer_id].available for h in held]
        for _ in range(5):
            placed = draft.order(new_order_number())
            try:
                await pg.execute(_PLACE, *_arguments(draft, placed, respond(placed), seen))
            except Exception as exc:
                state = getattr(exc, "sqlstate", None)
                if state == "23505" and getattr(exc, "constraint_name", "") == _NUMBER_TAKEN:
                    continue  # one in 31^8: draw another number (nothing was written)
                if capacity.is_lock_busy(state):
                    raise capacity.busy() from None
                if state == _NOT_HELD:
                    await _refuse(pg, held, getattr(exc, "detail", ""), now)
                raise
            return placed
    raise RuntimeError("could not draw a unique order number")


def _arguments(
    draft: Draft, order: PlacedOrder, done: Completion | None, seen: list[int] | None
) -> list[Any]:
    items = draft.items
    if seen is not None:  # the canary's unguarded write (see commerce_place_order)
        items = [{**item, "seen": n} for item, n in zip(items, seen, strict=True)]
    return [
        _json({**draft.values, "number": order.number}),
        _json(items),
        _json(draft.event),
        done.record_id if done else None,
        done.status if done else None,
        done.body_json() if done else None,
        done.resource_id if done else None,
        f"{capacity.LOCK_TIMEOUT_MS}ms",
    ]


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _refuse(pg: Any, held: Sequence[HeldLine], offer_id: str, now: datetime) -> None:
    """Why a line could not be held, as `capacity.refuse` says it."""
    i, line = next((i, h) for i, h in enumerate(held) if h.offer_id == offer_id)
    row = (await quotes.read(pg, [offer_id])).get(offer_id)  # and remember what it says now
    if row is not None and (row.price_amount, row.currency) != (line.unit_price, line.currency):
        raise Busy("the price changed while ordering; retry", retry_after=1)
    if row is not None and row.starts_at <= now:
        raise ValidationFailed.field(f"items[{i}].offer_id", "this offer has already started")
    left = row.available if row is not None else 0
    raise SoldOut(offer_id=line.offer_id, code=line.code, title=line.title, available=left)


async def _in_session(
    sessions: async_sessionmaker[AsyncSession],
    respond: Respond,
    *,
    settings: Settings,
    now: datetime,
    **order: Unpack[OrderRequest],
) -> Order:
    async with sessions() as session:

        async def store(placed: Order) -> None:
            done = respond(placed)
            if done is not None:
                await idempotency.store(session, done)

        placed = await place_order(session, settings=settings, now=now, before_hold=store, **order)
        await session.commit()
        return placed
