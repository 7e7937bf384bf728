"""Business-time arithmetic (pure): working intervals per weekday, holidays, own time zone.

Working intervals are given in local wall time. A UTC instant is working time when the zone's
wall clock at that instant shows a working minute of a working local date, so DST changes and
zone offsets never add or remove business time: a spring-forward hour never counts, a repeated
fall-back hour counts on both passes, and every instant has one wall time (no double count).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.dates import check_in_window
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
    for i, holiday in enumerate(holidays or []):
        check_in_window(f"holidays[{i}]", holiday)
    return Calendar(zone=zone, hours=clean, holidays=frozenset(holidays or []))


_MAX_OFFSET = timedelta(hours=14)  # no zone is further than this from UTC


def _offset(tz: ZoneInfo, at: datetime) -> timedelta:
    return at.astimezone(tz).utcoffset() or timedelta(0)


def _offset_spans(
    tz: ZoneInfo, lo: datetime, hi: datetime
) -> list[tuple[datetime, datetime, timedelta]]:
    """[lo, hi) cut into UTC spans of one constant offset (bisection finds each change to the
    second; a window of a few days holds at most a change or two)."""
    spans: list[tuple[datetime, datetime, timedelta]] = []
    while lo < hi:
        first = _offset(tz, lo)
        if _offset(tz, hi - timedelta(seconds=1)) == first:
            spans.append((lo, hi, first))
            break
        a, b = lo, hi - timedelta(seconds=1)  # offset(a) == first != offset(b)
        while b - a > timedelta(seconds=1):
            mid = a + (b - a) // 2
            mid = mid.replace(microsecond=0)
            if _offset(tz, mid) == first:
                a = mid
            else:
                b = mid
        spans.append((lo, b, first))
        lo = b
    return spans


def day_intervals(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The UTC working intervals of one local date (empty on holidays): exactly the instants
    whose wall-clock time in the calendar's zone falls in one of the day's intervals.

    Worked out per span of constant UTC offset, so an interval reaching into a spring-forward
    gap ends (or starts) where the wall clock jumps, and the hour a fall-back repeats is
    working time on both passes when the interval covers it on the wall.
    """
    if day in cal.holidays or not cal.hours.get(day.weekday()):
        return []
    hours = tuple((int(a), int(b)) for a, b in cal.hours[day.weekday()])
    return list(_zone_day_intervals(cal.zone, hours, day))


# A day's intervals depend only on the zone, that weekday's hours and the date, and every SLA
# clock walks day by day from when it started: one ticket's two clocks on the caller's record
# worked out a dozen days (offset bisection included) on each open, a tenth of the page's CPU
# (bench/console.py). Kept here; `day_intervals_uncached` is the plain path it is tested
# against (tests/unit/ticketing/test_calendar_cache.py).
@lru_cache(maxsize=4096)
def _zone_day_intervals(
    zone: str, hours: tuple[tuple[int, int], ...], day: date
) -> tuple[tuple[datetime, datetime], ...]:
    return tuple(_working_intervals(ZoneInfo(zone), hours, day))


def day_intervals_uncached(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """`day_intervals` worked out afresh (the plain path)."""
    if day in cal.holidays or not cal.hours.get(day.weekday()):
        return []
    return _working_intervals(cal.tz(), cal.hours[day.weekday()], day)


def _working_intervals(
    tz: ZoneInfo, hours: Iterable[tuple[int, int]], day: date
) -> list[tuple[datetime, datetime]]:
    midnight = datetime.combine(day, time(0, 0))  # naive: wall time of this local date
    lo = midnight.replace(tzinfo=UTC) - _MAX_OFFSET
    hi = midnight.replace(tzinfo=UTC) + timedelta(days=1) + _MAX_OFFSET
    spans = _offset_spans(tz, lo, hi)
    out: list[tuple[datetime, datetime]] = []
    for a, b in hours:
        wall_a, wall_b = midnight + timedelta(minutes=a), midnight + timedelta(minutes=b)
        for s_lo, s_hi, off in spans:
            # On this span wall time is UTC + off; clip the interval to it and map back.
            start = max(s_lo, (wall_a - off).replace(tzinfo=UTC))
            end = min(s_hi, (wall_b - off).replace(tzinfo=UTC))
            if end > start:
                out.append((start, end))
    out.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in out:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


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
