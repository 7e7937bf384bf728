"""Business-time arithmetic (pure): working intervals per weekday, holidays, own time zone.

Working intervals are given in local wall time and turned into UTC instants with zoneinfo for
each local date, so DST changes and zone offsets never add or remove business time: a day's
intervals are clipped so they never overlap after conversion (a DST gap cannot double-count).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ValidationFailed

MAX_DAYS = 3 * 366  # how far add_business_seconds may search before giving up


@dataclass(frozen=True)
class Calendar:
    """`hours[weekday]` (0 = Monday) lists (start_minute, end_minute) in local wall time."""

    zone: str = "Asia/Shanghai"
    hours: dict[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    def snapshot(self) -> dict[str, Any]:
        return {
            "zone": self.zone,
            "hours": {str(d): [list(iv) for iv in ivs] for d, ivs in sorted(self.hours.items())},
            "holidays": sorted(d.isoformat() for d in self.holidays),
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Calendar:
        return make_calendar(
            data.get("zone", "Asia/Shanghai"),
            {int(k): [tuple(iv) for iv in v] for k, v in data.get("hours", {}).items()},
            [date.fromisoformat(d) for d in data.get("holidays", [])],
        )


def make_calendar(
    zone: str,
    hours: dict[int, list[Any]],
    holidays: list[date] | None = None,
) -> Calendar:
    """Validated calendar; bad input raises ValidationFailed (never a 500)."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed.field("zone", f"unknown time zone {zone!r}") from exc
    clean: dict[int, tuple[tuple[int, int], ...]] = {}
    for day, intervals in hours.items():
        if not 0 <= int(day) <= 6:
            raise ValidationFailed.field("hours", "weekday must be 0 (Monday) to 6")
        ivs = sorted((int(a), int(b)) for a, b in intervals)
        prev_end = -1
        for a, b in ivs:
            if not (0 <= a < b <= 24 * 60):
                raise ValidationFailed.field("hours", "interval must be 0 <= start < end <= 1440")
            if a < prev_end:
                raise ValidationFailed.field("hours", "intervals overlap")
            prev_end = b
        if ivs:
            clean[int(day)] = tuple(ivs)
    if not clean:
        raise ValidationFailed.field("hours", "a calendar needs some working time")
    return Calendar(zone=zone, hours=clean, holidays=frozenset(holidays or []))


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    if minute >= 24 * 60:
        nxt = day + timedelta(days=1)
        return datetime.combine(nxt, time(0, 0), tzinfo=tz).astimezone(UTC)
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz).astimezone(UTC)


def day_intervals(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The UTC working intervals of one local date (empty on holidays)."""
    if day in cal.holidays:
        return []
    tz = cal.tz()
    out: list[tuple[datetime, datetime]] = []
    for a, b in cal.hours.get(day.weekday(), ()):
        start, end = _local(day, a, tz), _local(day, b, tz)
        if out and start < out[-1][1]:
            start = out[-1][1]
        if end > start:
            out.append((start, end))
    return out


def _intervals_from(
    cal: Calendar, start: datetime, days: int
) -> Iterator[tuple[datetime, datetime]]:
    day = start.astimezone(cal.tz()).date() - timedelta(days=1)
    last_end: datetime | None = None
    for _ in range(days + 2):
        for a, b in day_intervals(cal, day):
            if last_end is not None and a < last_end:
                a = last_end
            if b <= a:
                continue
            last_end = b
            yield a, b
        day += timedelta(days=1)


def business_seconds(cal: Calendar, start: datetime, end: datetime) -> int:
    """Whole business seconds in [start, end) (0 when end <= start)."""
    if end <= start:
        return 0
    total = timedelta(0)
    span_days = (end - start).days + 2
    for a, b in _intervals_from(cal, start, span_days):
        if a >= end:
            break
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += hi - lo
    return int(total // timedelta(seconds=1))


def add_business_seconds(cal: Calendar, start: datetime, seconds: int) -> datetime:
    """The instant at which `seconds` of business time have passed since `start`."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    remaining = timedelta(seconds=seconds)
    for a, b in _intervals_from(cal, start, MAX_DAYS):
        if b <= start:
            continue
        lo = max(a, start)
        if remaining <= b - lo:
            return lo + remaining
        remaining -= b - lo
    raise ValidationFailed.field("calendar", "no working time within three years")


DEFAULT_HOURS: dict[int, list[Any]] = {
    d: [(9 * 60, 12 * 60), (13 * 60, 18 * 60)] for d in range(5)
} | {5: [(10 * 60, 16 * 60)]}


def default_calendar() -> Calendar:
    return make_calendar("Asia/Shanghai", DEFAULT_HOURS, [])
