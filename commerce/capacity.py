"""Capacity holds: the only code that changes `offers.available`.

Every hold is one conditional UPDATE (`available = available - q WHERE available >= q`), so the
database itself refuses to sell a seat twice; there is no read-then-write anywhere. Rows are
touched in offer-id order, so two multi-offer orders wait for each other instead of
deadlocking, and on PostgreSQL a `lock_timeout` turns a long queue into 409 `busy` + Retry-After
instead of a stuck request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.errors import Busy
from core.settings import Settings

from . import guards
from .domain import LineRequest
from .draft import Draft, OrderRequest, check_request, draft_order
from .errors import SoldOut
from .guards import HeldLine, refusal
from .models import Offer

LOCK_TIMEOUT_MS = 3000
OFFERS = cast(Table, Offer.__table__)
_LOCK_BUSY = {"55P03", "40P01"}  # lock_not_available, deadlock_detected


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    for attr in ("sqlstate", "pgcode"):
        value = getattr(orig, attr, None) or getattr(getattr(orig, "__cause__", None), attr, None)
        if value:
            return str(value)
    return None


async def set_lock_timeout(session: AsyncSession) -> None:
    if is_postgres(session):
        await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))


def busy() -> Busy:
    return Busy("too many bookings on this offer right now; retry shortly", retry_after=1)


def is_lock_busy(sqlstate: str | None) -> bool:
    """A lock timeout, or a deadlock (which sorted locking should prevent)."""
    return sqlstate in _LOCK_BUSY


def busy_or_raise(exc: DBAPIError) -> Busy:
    """Map a lock timeout (or a deadlock) to 409 busy; re-raise anything else."""
    if is_lock_busy(_sqlstate(exc)):
        return busy()
    raise exc


async def read_offers(session: AsyncSession, lines: Sequence[LineRequest]) -> dict[str, Any]:
    """The offer rows the lines name, by id, for guards.check_quote: read without locking
    anything, so what cannot work is refused early (during a rush most requests end there,
    never touching the hot row's lock). On PostgreSQL this also sets the transaction's
    lock_timeout for the hold to come."""
    ids = [line.offer_id for line in lines]
    stmt = _QUOTE_PG if is_postgres(session) else _QUOTE_SQLITE
    return {r.id: r for r in await session.execute(stmt, {"ids": ids})}


async def quote_in(
    session: AsyncSession, order: OrderRequest, *, settings: Settings, now: datetime
) -> tuple[dict[str, Any], list[HeldLine], Draft]:
    """Both adapters' first step inside a caller's transaction: check the request, read its
    offers, refuse what cannot work, and draft the rows (offer rows, held lines, draft)."""
    asked = check_request(order)
    rows = await read_offers(session, asked.lines)
    held = guards.check_quote(asked.lines, rows, now)  # by module: tests stage a stale read
    return rows, held, draft_order(held, asked, settings=settings, now=now)


_QUOTED: list[Any] = [
    OFFERS.c.id,
    OFFERS.c.code,
    OFFERS.c.title,
    OFFERS.c.starts_at,
    OFFERS.c.price_amount,
    OFFERS.c.currency,
    OFFERS.c.available,
]
# Built once (per-request construction and cache-key hashing cost the rush more Python time
# than the query). PostgreSQL: one array parameter whatever the number of lines, and this
# transaction's lock_timeout for the hold to come set in the same round trip.
_QUOTE_PG = select(*_QUOTED, func.set_config("lock_timeout", f"{LOCK_TIMEOUT_MS}ms", True)).where(
    OFFERS.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
)
_QUOTE_SQLITE = select(*_QUOTED).where(OFFERS.c.id.in_(bindparam("ids", expanding=True)))


async def hold(
    session: AsyncSession, lines: Sequence[HeldLine], *, now: datetime, guarded: bool = True
) -> None:
    """Take the quoted quantities out of `available`, all or nothing (the caller's transaction
    rolls back on a refusal). One conditional UPDATE per offer, in offer-id order, carrying
    every guard (commerce/guards.py) as commerce_place_order does. Callers do this last
    before committing: the row lock lives from here to COMMIT. SQLite's adapter only.

    `guarded=False` is the oversell canary's bug on purpose (guards.guarded): read, decide,
    write back, with no condition."""
    for line in sorted(lines, key=lambda ln: ln.offer_id):
        if not guarded:
            await _unguarded_hold(session, line)
            continue
        try:
            got = await session.scalar(
                update(OFFERS)
                .where(
                    OFFERS.c.id == line.offer_id,
                    OFFERS.c.available >= line.quantity,
                    OFFERS.c.price_amount == line.unit_price,
                    OFFERS.c.currency == line.currency,
                    OFFERS.c.starts_at > now,
                )
                .values(available=OFFERS.c.available - line.quantity)
                .returning(OFFERS.c.id)
            )
        except DBAPIError as exc:
            raise busy_or_raise(exc) from None
        if got is None:
            raise refusal(lines, line.offer_id, await read_offer(session, line.offer_id), now)


async def read_offer(session: AsyncSession, offer_id: str) -> Any:
    """One offer row as it is now (None: gone), for guards.refusal."""
    return (await session.execute(_ONE, {"id": offer_id})).first()


_ONE = select(*_QUOTED).where(OFFERS.c.id == bindparam("id"))


async def _unguarded_hold(session: AsyncSession, line: HeldLine) -> None:
    """The read-then-write pretix and Saleor shipped; only the canary runs this, to prove
    the concurrency tests would see an oversell if the conditional update were ever lost."""
    left = await session.scalar(select(OFFERS.c.available).where(OFFERS.c.id == line.offer_id))
    if left is None or left < line.quantity:
        raise SoldOut(offer_id=line.offer_id, code=line.code, title=line.title, available=0)
    try:
        await session.execute(
            update(OFFERS)
            .where(OFFERS.c.id == line.offer_id)
            .values(available=left - line.quantity)
        )
    except DBAPIError as exc:
        raise busy_or_raise(exc) from None


async def rehold(session: AsyncSession, lines: Sequence[LineRequest]) -> bool:
    """Take capacity again for a lapsed hold (a late payment). True when every line fitted;
    otherwise nothing stays taken."""
    await set_lock_timeout(session)
    taken: list[LineRequest] = []
    for line in sorted(lines, key=lambda ln: ln.offer_id):
        try:
            got = await session.scalar(
                update(Offer)
                .where(Offer.id == line.offer_id, Offer.available >= line.quantity)
                .values(available=Offer.available - line.quantity)
                .returning(Offer.id)
                .execution_options(synchronize_session=False)
            )
        except DBAPIError as exc:
            raise busy_or_raise(exc) from None
        if got is None:
            await release(session, taken)
            return False
        taken.append(line)
    return True


async def release(session: AsyncSession, lines: Sequence[LineRequest]) -> None:
    """Give seats back: the quantities summed per offer, one UPDATE per offer in offer-id
    order, so a sweeper releasing a batch of orders locks rows in the same order as a
    multi-offer hold and cannot deadlock with it. Callers guarantee once-only by releasing
    only after winning the conditional status change that ends each hold; the CHECK
    (available <= capacity) would stop a double release from inventing seats."""
    if not lines:
        return
    await set_lock_timeout(session)
    per_offer: dict[str, int] = {}
    for line in lines:
        per_offer[line.offer_id] = per_offer.get(line.offer_id, 0) + line.quantity
    for offer_id in sorted(per_offer):
        try:
            await session.execute(
                update(Offer)
                .where(Offer.id == offer_id)
                .values(available=Offer.available + per_offer[offer_id])
                .execution_options(synchronize_session=False)
            )
        except DBAPIError as exc:
            raise busy_or_raise(exc) from None
