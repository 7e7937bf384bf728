"""Hypothesis: across DST transitions, business seconds are the real elapsed working seconds.

The oracle is independent of the calendar code: it walks real time minute by minute and asks
the wall clock of the zone whether that minute is working time (its local date is no holiday
and its local time lies in one of that weekday's intervals). So a spring-forward hour that
never happens on the wall never counts, a fall-back hour that happens twice counts twice, and
an interval that starts or ends inside either is cut where the wall clock says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.errors import ValidationFailed
from ticketing.calendar import (
    MAX_DAYS,
    Calendar,
    add_business_seconds,
    business_seconds,
    make_calendar,
)

# Instants (UTC) where the zones change offset in 2026-2027.
TRANSITIONS = {
    "Europe/Berlin": [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),
        datetime(2027, 10, 31, 1, 0, tzinfo=UTC),
    ],
    "America/New_York": [
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
    ],
    "Australia/Lord_Howe": [  # half-hour DST
        datetime(2026, 4, 4, 15, 0, tzinfo=UTC),
        datetime(2026, 10, 3, 15, 30, tzinfo=UTC),
    ],
}
# Minutes of the day, biased towards the hours the clocks jump in (01:00-04:00 local).
minute = st.one_of(st.integers(0, 1440), st.integers(60, 240), st.sampled_from([120, 150, 180]))


@st.composite
def dst_calendar(draw: st.DrawFn, zone: str) -> Calendar:
    hours: dict[int, list[tuple[int, int]]] = {}
    for day in draw(st.sets(st.integers(0, 6), min_size=1)):
        cuts = sorted(set(draw(st.lists(minute, min_size=2, max_size=6))))
        pairs = list(zip(cuts[0::2], cuts[1::2], strict=False))
        if pairs:
            hours[day] = pairs
    if not hours:
        hours = {6: [(60, 240)]}
    local = TRANSITIONS[zone][0].astimezone(ZoneInfo(zone)).date()
    holidays = draw(st.lists(st.sampled_from([local + timedelta(days=d) for d in (-1, 1)])))
    return make_calendar(zone, hours, holidays)


def wall_clock_seconds(cal: Calendar, start: datetime, end: datetime) -> int:
    """Real seconds in [start, end) (whole minutes) the zone's wall clock calls working."""
    tz, total, t = ZoneInfo(cal.zone), 0, start
    while t < end:
        wall = t.astimezone(tz)
        of_day = wall.hour * 60 + wall.minute
        if wall.date() not in cal.holidays and any(
            a <= of_day < b for a, b in cal.hours.get(wall.weekday(), ())
        ):
            total += 60
        t += timedelta(minutes=1)
    return total


@st.composite
def case(draw: st.DrawFn) -> tuple[Calendar, datetime, datetime]:
    zone = draw(st.sampled_from(sorted(TRANSITIONS)))
    cal = draw(dst_calendar(zone))
    at = draw(st.sampled_from(TRANSITIONS[zone]))
    start = at + timedelta(minutes=draw(st.integers(-36 * 60, 12 * 60)))
    end = start + timedelta(minutes=draw(st.integers(0, 48 * 60)))
    return cal, start, end


BERLIN_SPRING = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # Sunday: 02:00 -> 03:00
BERLIN_FALL = datetime(2026, 10, 25, 1, 0, tzinfo=UTC)  # Sunday: 03:00 -> 02:00


@settings(max_examples=300, deadline=None)
@given(c=case())
# A shift ending inside the hour that never happens: the wall clock jumps past it.
@example(
    c=(
        make_calendar("Europe/Berlin", {6: [(60, 150)]}),
        BERLIN_SPRING - timedelta(hours=3),
        BERLIN_SPRING + timedelta(hours=3),
    )
)
# Ending, and starting, inside the hour that happens twice: both passes count.
@example(
    c=(
        make_calendar("Europe/Berlin", {6: [(0, 150)]}),
        BERLIN_FALL - timedelta(hours=3),
        BERLIN_FALL + timedelta(hours=4),
    )
)
@example(
    c=(
        make_calendar("Europe/Berlin", {6: [(150, 300)]}),
        BERLIN_FALL - timedelta(hours=3),
        BERLIN_FALL + timedelta(hours=5),
    )
)
def test_business_seconds_are_real_working_seconds_across_dst(
    c: tuple[Calendar, datetime, datetime],
) -> None:
    cal, start, end = c
    assert business_seconds(cal, start, end) == wall_clock_seconds(cal, start, end)


@settings(max_examples=150, deadline=None)
@given(c=case(), seconds=st.integers(0, 30 * 3600))
# One working minute a week cannot hold 157 minutes within the three-year horizon.
@example(
    c=(
        make_calendar("America/New_York", {0: [(0, 1)]}),
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
    ),
    seconds=9421,
)
def test_adding_business_seconds_across_dst_lands_where_the_wall_clock_says(
    c: tuple[Calendar, datetime, datetime], seconds: int
) -> None:
    cal, start, _ = c
    try:
        due = add_business_seconds(cal, start, seconds)
    except ValidationFailed:  # a calendar this thin (one minute a week) is refused: rightly?
        horizon = start + timedelta(days=MAX_DAYS - 7)
        assert business_seconds(cal, start, horizon) < seconds
        return
    assert business_seconds(cal, start, due) == seconds
    if seconds % 60 == 0 and due - start <= timedelta(days=4):
        assert wall_clock_seconds(cal, start, due) == seconds


def test_a_whole_dst_night_shift_counts_its_real_hours() -> None:
    night = make_calendar("Europe/Berlin", {6: [(0, 360)]})  # Sundays 00:00-06:00 wall
    spring = datetime(2026, 3, 29, tzinfo=ZoneInfo("Europe/Berlin"))
    fall = datetime(2026, 10, 25, tzinfo=ZoneInfo("Europe/Berlin"))
    assert business_seconds(night, spring, spring + timedelta(days=1)) == 5 * 3600
    assert business_seconds(night, fall, fall + timedelta(days=1)) == 7 * 3600
    assert date(2026, 3, 29).weekday() == 6 == date(2026, 10, 25).weekday()
