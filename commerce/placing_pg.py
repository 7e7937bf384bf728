"""The PostgreSQL adapter of commerce.placing.OrderPlacement: `commerce_place_order`.

`place` quotes (commerce/quotes.py, mostly from memory), then calls the function on a pooled
asyncpg connection (core/drivers.py) without BEGIN/COMMIT: one round trip, the statement its
own transaction. The hot offer row is locked only inside PostgreSQL, from the function's
conditional UPDATE to the commit at the end of that one statement.

`place_in` calls the same function on the caller's connection, inside its transaction, in a
savepoint: a refusal rolls back what the function wrote and leaves the caller's transaction
usable to read why (two round trips more, off the rush's path).

A line the function cannot hold raises SQLSTATE HL001 with the offer id as DETAIL; the offer
row is then read again and guards.refusal says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Unpack

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.drivers import DriverPool, to_json
from core.idempotency import Completion
from core.settings import Settings

from . import capacity, guards, quotes
from .domain import new_order_number
from .draft import Draft, OrderRequest, PlacedOrder, Respond, check_request, draft_order
from .models import Order

_ARGS = "$1, $2, $3, $4, $5, $6, $7, $8"
_PLACE = f"SELECT commerce_place_order({_ARGS})"
_PLACE_IN = text(
    "SELECT commerce_place_order(CAST(:o AS jsonb), CAST(:i AS jsonb), CAST(:e AS jsonb),"
    " CAST(:k_id AS text), CAST(:k_status AS integer), CAST(:k_body AS json),"
    " CAST(:k_resource AS text), CAST(:timeout AS text))"
)
_PLACE_IN_NAMES = ("o", "i", "e", "k_id", "k_status", "k_body", "k_resource", "timeout")
_NOT_HELD = "HL001"  # commerce_place_order: a line's conditional UPDATE matched no row
_NUMBER_TAKEN = "uq_orders_number"
_DRAWS = 5  # order numbers are random (31^8): a collision is drawn again, nothing written


class PostgresPlacement:
    def __init__(self, settings: Settings, drivers: DriverPool | None) -> None:
        self._settings = settings
        self._drivers = drivers
        self._guarded = guards.guarded(settings)

    async def place(
        self, *, now: datetime, respond: Respond | None = None, **order: Unpack[OrderRequest]
    ) -> PlacedOrder:
        if self._drivers is None:
            raise RuntimeError("placing an order on its own needs the runtime's asyncpg pool")
        asked = check_request(order)
        async with self._drivers.connection() as pg:
            # The canary's unguarded write needs what the database said just now.
            rows = await quotes.quote_rows(pg, asked.lines, fresh=not self._guarded)
            held = guards.check_quote(asked.lines, rows, now)
            draft = draft_order(held, asked, settings=self._settings, now=now)
            seen = None if self._guarded else [rows[h.offer_id].available for h in held]
            for _ in range(_DRAWS):
                placed = draft.order(new_order_number())
                try:
                    await pg.execute(_PLACE, *_arguments(draft, placed, respond, seen))
                except Exception as exc:
                    offer_id = _refused(exc)
                    if offer_id is None:
                        raise
                    if not offer_id:
                        continue
                    row = (await quotes.read(pg, [offer_id])).get(offer_id)  # remembered too
                    raise guards.refusal(held, offer_id, row, now) from None
                return placed
        raise RuntimeError("could not draw a unique order number")

    async def place_in(
        self,
        session: AsyncSession,
        *,
        now: datetime,
        respond: Respond | None = None,
        **order: Unpack[OrderRequest],
    ) -> Order:
        rows, held, draft = await capacity.quote_in(
            session, order, settings=self._settings, now=now
        )
        seen = None if self._guarded else [rows[h.offer_id].available for h in held]
        for _ in range(_DRAWS):
            number = new_order_number()
            args = _arguments(draft, draft.order(number), respond, seen)
            try:
                async with session.begin_nested():
                    await session.execute(_PLACE_IN, dict(zip(_PLACE_IN_NAMES, args, strict=True)))
            except DBAPIError as exc:
                cause: BaseException = getattr(exc.orig, "__cause__", None) or exc.orig or exc
                offer_id = _refused(cause)
                if offer_id is None:
                    raise
                if not offer_id:
                    continue
                row = await capacity.read_offer(session, offer_id)
                raise guards.refusal(held, offer_id, row, now) from None
            return draft.attach(session, number)
        raise RuntimeError("could not draw a unique order number")


def _refused(exc: BaseException) -> str | None:
    """What the function's error means: the offer id a line could not be held on, "" for a
    taken order number (draw again: nothing was written), None for anything else (the caller
    re-raises it). A lock timeout is Busy."""
    state = getattr(exc, "sqlstate", None)
    if state == "23505" and getattr(exc, "constraint_name", "") == _NUMBER_TAKEN:
        return ""
    if capacity.is_lock_busy(state):
        raise capacity.busy() from None
    if state == _NOT_HELD:
        return str(getattr(exc, "detail", "")) or None
    return None


def _arguments(
    draft: Draft, order: PlacedOrder, respond: Respond | None, seen: list[int] | None
) -> list[Any]:
    done: Completion | None = respond(order) if respond is not None else None
    items = draft.items
    if seen is not None:  # the canary's unguarded write (see commerce_place_order)
        items = [{**item, "seen": n} for item, n in zip(items, seen, strict=True)]
    return [
        to_json({**draft.values, "number": order.number}),
        to_json(items),
        to_json(draft.event),
        done.record_id if done else None,
        done.status if done else None,
        done.body_json() if done else None,
        done.resource_id if done else None,
        f"{capacity.LOCK_TIMEOUT_MS}ms",
    ]
