"""Catalog use cases: create offers, find them by kind, text and date."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utc
from core.dates import check_in_window
from core.errors import NotFound, ValidationFailed
from core.money import Money
from core.paging import Page, keyset, page_of
from core.text import check_plain_text

from .domain import OfferKind, check_offer_code, new_offer_code
from .errors import OfferCodeTaken
from .models import Offer

MAX_CAPACITY = 1_000_000
MAX_PRICE = 100_000_000  # minor units: one million yuan is not a hotline booking


async def create_offer(
    session: AsyncSession,
    *,
    kind: str,
    title: str,
    venue: str,
    starts_at: datetime,
    price: Money,
    capacity: int,
    now: datetime,
    code: str | None = None,
    currency: str | None = None,
) -> Offer:
    """Admin: a new bookable offer with `capacity` seats, all available. `currency` is the
    service's (HOTLINE_CURRENCY): an offer priced in another could never share an order or a
    payment with the rest of the catalog, so it is refused."""
    try:
        kind_value = OfferKind(kind).value
    except ValueError:
        raise ValidationFailed.field("kind", "one of event, train, flight, hotel") from None
    title, venue = title.strip(), venue.strip()
    if not 1 <= len(title) <= 200:
        raise ValidationFailed.field("title", "1-200 characters")
    if not 1 <= len(venue) <= 200:
        raise ValidationFailed.field("venue", "1-200 characters")
    check_plain_text("title", title)
    check_plain_text("venue", venue)
    if currency is not None and price.currency != currency:
        raise ValidationFailed.field("price.currency", f"offers are priced in {currency}")
    if type(price.amount) is not int or not 0 <= price.amount <= MAX_PRICE:
        raise ValidationFailed.field("price.amount", f"whole minor units, 0 to {MAX_PRICE}")
    if type(capacity) is not int or not 1 <= capacity <= MAX_CAPACITY:
        raise ValidationFailed.field("capacity", f"a whole number from 1 to {MAX_CAPACITY}")
    try:
        starts = utc(check_in_window("starts_at", starts_at))
    except ValueError:
        raise ValidationFailed.field("starts_at", "needs a time zone") from None
    if starts <= now:
        raise ValidationFailed.field("starts_at", "must be in the future")
    code_value = check_offer_code(code) if code else new_offer_code()
    offer = Offer(
        code=code_value,
        kind=kind_value,
        title=title,
        venue=venue,
        starts_at=starts,
        price_amount=price.amount,
        currency=price.currency,
        capacity=capacity,
        available=capacity,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(offer)
            await session.flush()
    except IntegrityError:
        raise OfferCodeTaken(f"offer code {code_value} is taken") from None
    return offer


async def get_offer(session: AsyncSession, offer_id: str) -> Offer:
    offer = await session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"no offer {offer_id}")
    return offer


async def find_offer_by_code(session: AsyncSession, code: str) -> Offer:
    offer = await session.scalar(select(Offer).where(Offer.code == code.strip().upper()))
    if offer is None:
        raise NotFound(f"no offer {code}")
    return offer


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def local_day(on: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the local date `on`, a date the user chose (core/dates.py)."""
    start = datetime.combine(check_in_window("on", on), time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


async def search_offers(
    session: AsyncSession,
    *,
    now: datetime,
    zone: ZoneInfo,
    kind: str | None = None,
    q: str | None = None,
    on: date | None = None,
    include_past: bool = False,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[Offer]:
    """Bookable offers soonest first. `q` matches code, title or venue; `on` is a local date
    (the service's time zone) on which the offer starts."""
    stmt = select(Offer)
    if kind:
        try:
            stmt = stmt.where(Offer.kind == OfferKind(kind).value)
        except ValueError:
            raise ValidationFailed.field("kind", "one of event, train, flight, hotel") from None
    if q and q.strip():
        pattern = f"%{_escape_like(q.strip().lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(Offer.title).like(pattern, escape="\\"),
                func.lower(Offer.venue).like(pattern, escape="\\"),
                func.lower(Offer.code).like(pattern, escape="\\"),
            )
        )
    if on is not None:
        start, end = local_day(on, zone)
        stmt = stmt.where(Offer.starts_at >= start, Offer.starts_at < end)
    if not include_past:
        stmt = stmt.where(Offer.starts_at > now)
    stmt = keyset(stmt, Offer.starts_at, Offer.id, cursor=cursor, limit=limit, newest_first=False)
    return page_of(list(await session.scalars(stmt)), limit, lambda o: (o.starts_at, o.id))
