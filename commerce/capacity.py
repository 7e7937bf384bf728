"""Capacity holds: the only code that changes `offers.available`.

Every hold is one conditional UPDATE (`available = available - q WHERE available >= q`), so the
database itself refuses to sell a seat twice; there is no read-then-write anywhere. Rows are
touched in offer-id order, so two multi-offer orders wait for each other instead of
deadlocking, and on PostgreSQL a `lock_timeout` turns a long queue into 409 `busy` + Retry-After
instead of a stuck request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, Table, any_, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.errors import Busy, ValidationFailed
from core.settings import Settings

from .domain import LineRequest
from .errors import SoldOut
from .models import Offer

LOCK_TIMEOUT_MS = 3000
OFFERS = cast(Table, Offer.__table__)
_LOCK_BUSY = {"55P03", "40P01"}  # lock_not_available, deadlock_detected


@dataclass(frozen=True, slots=True)
class HeldLine:
    offer_id: str
    code: str
    title: str
    starts_at: datetime
    quantity: int
    unit_price: int
    currency: str


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


async def quote(
    session: AsyncSession, lines: Sequence[LineRequest], *, now: datetime
) -> list[HeldLine]:
    """Read what the lines would hold (titles, prices) without locking anything, and refuse
    early what cannot work: unknown or started offers, and offers already sold out (during a
    rush most requests end here, never touching the hot row's lock)."""
    ids = [line.offer_id for line in lines]
    stmt = _QUOTE_PG if is_postgres(session) else _QUOTE_SQLITE
    return check_quote(lines, {r.id: r for r in await session.execute(stmt, {"ids": ids})}, now)


def check_quote(
    lines: Sequence[LineRequest], rows: dict[str, Any], now: datetime
) -> list[HeldLine]:
    """`quote`'s refusals, over offer rows by id (anything with the `_QUOTED` columns as
    attributes: SQLAlchemy rows here, commerce/placing.py reads its own)."""
    quoted: list[HeldLine] = []
    for i, line in enumerate(lines):
        r = rows.get(line.offer_id)
        if r is None:
            raise ValidationFailed.field(f"items[{i}].offer_id", "no such offer")
        if r.starts_at <= now:
            raise ValidationFailed.field(f"items[{i}].offer_id", "this offer has already started")
        if r.available < line.quantity:
            raise SoldOut(offer_id=r.id, code=r.code, title=r.title, available=r.available)
        quoted.append(
            HeldLine(r.id, r.code, r.title, r.starts_at, line.quantity, r.price_amount, r.currency)
        )
    return quoted


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


def guarded(settings: Settings) -> bool:
    """False only for the oversell canary (HOTLINE_TEST_UNGUARDED_HOLDS=1): settings refuse
    the switch outside the test env, and this refuses it again."""
    return not (settings.env == "test" and settings.test_unguarded_holds == 1)


async def hold(session: AsyncSession, lines: Sequence[HeldLine], *, guarded: bool = True) -> None:
    """Take the quoted quantities out of `available`, all or nothing (the caller's transaction
    rolls back on SoldOut). One conditional UPDATE per offer, in offer-id order. Callers do this
    last before committing: the row lock lives from here to COMMIT, so nothing else should run
    in between while others queue for the same hot row. `quote` set the lock_timeout.

    `guarded=False` is the oversell canary's bug on purpose (HOTLINE_TEST_UNGUARDED_HOLDS,
    refused outside the test env): read, decide, write back, with no condition."""
    if not guarded:
        await _unguarded_hold(session, lines)
        return
    for line in sorted(lines, key=lambda ln: ln.offer_id):
        try:
            got = await session.scalar(
                update(OFFERS)
                .where(
                    OFFERS.c.id == line.offer_id,
                    OFFERS.c.available >= line.quantity,
                    OFFERS.c.price_amount == line.unit_price,  # the quoted price still stands
                )
                .values(available=OFFERS.c.available - line.quantity)
                .returning(OFFERS.c.id)
            )
        except DBAPIError as exc:
            raise busy_or_raise(exc) from None
        if got is None:
            await refuse(session, line)


async def _unguarded_hold(session: AsyncSession, lines: Sequence[HeldLine]) -> None:
    """The read-then-write pretix and Saleor shipped; only the canary test runs this, to prove
    the rush tests would see an oversell if the conditional update were ever lost."""
    for line in sorted(lines, key=lambda ln: ln.offer_id):
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


async def refuse(session: AsyncSession, line: HeldLine) -> None:
    offer = await session.get(Offer, line.offer_id, populate_existing=True)
    if offer is not None and offer.price_amount != line.unit_price:
        raise Busy("the price changed while ordering; retry", retry_after=1)
    left = offer.available if offer is not None else 0
    raise SoldOut(offer_id=line.offer_id, code=line.code, title=line.title, available=left)


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
