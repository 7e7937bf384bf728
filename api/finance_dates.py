"""Finance's date filters: a plain date (2026-12-01) is that whole day in the business time
zone (HOTLINE_TIMEZONE), so `from=2026-12-01&to=2026-12-01` is one day; a time with its zone
(2026-12-01T00:00:00+08:00) is taken as it is, `to` exclusive. A time without a zone is
refused: it would mean a different instant to each reader. Either is refused outside the years
the service accepts (core/dates.py), before any arithmetic on it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from core.dates import check_in_window
from core.errors import ValidationFailed


def _parse(value: str, name: str, zone: tzinfo, *, end: bool) -> datetime:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is not None and len(value) == 10:
        check_in_window(name, day)
        if end:
            day += timedelta(days=1)
        return datetime.combine(day, time(0), zone).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.field(
            name, "must be a date (YYYY-MM-DD) or an ISO 8601 time with its zone"
        ) from None
    if parsed.tzinfo is None:
        raise ValidationFailed.field(name, "needs a zone, e.g. 2026-11-01T00:00:00+08:00")
    return check_in_window(name, parsed).astimezone(UTC)


def bound(value: str | None, name: str, zone: tzinfo, *, end: bool) -> datetime | None:
    return None if not value else _parse(value, name, zone, end=end)


def span(
    start: str | None, end: str | None, zone: tzinfo
) -> tuple[datetime | None, datetime | None]:
    """[from, to) in UTC, either end open; `to` not after `from` is refused, as in `period`,
    rather than answered with nothing (an export that looks empty but is a typo)."""
    lo = bound(start, "from", zone, end=False)
    hi = bound(end, "to", zone, end=True)
    if lo is not None and hi is not None and hi <= lo:
        raise ValidationFailed.field("to", "must be after from")
    return lo, hi


def period(start: str | None, end: str | None, zone: tzinfo) -> tuple[datetime, datetime]:
    """[from, to) in UTC; both needed (a report or a run covers a stated period)."""
    lo, hi = span(start, end, zone)
    if lo is None:
        raise ValidationFailed.field("from", "required: a date or a time with its zone")
    if hi is None:
        raise ValidationFailed.field("to", "required: a date or a time with its zone")
    if hi - lo > timedelta(days=366):
        raise ValidationFailed.field("to", "a period is at most 366 days")
    return lo, hi


def zone_for(name: str | None, business: tzinfo) -> tzinfo:
    """`tz=utc` shows UTC; anything else but the business zone is refused."""
    if name is None or name == "business":
        return business
    if name.lower() == "utc":
        return UTC
    raise ValidationFailed.field("tz", "must be business (the default) or utc")
