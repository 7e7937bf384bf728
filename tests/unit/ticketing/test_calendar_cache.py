"""The cached day intervals (ticketing/calendar.py) agree with the ones worked out afresh, on
ordinary days, holidays, days off and the days the clocks change, in zones with and without
DST; and what the cache hands out cannot be changed by a caller."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ticketing.calendar import (
    DEFAULT_HOURS,
    day_intervals,
    day_intervals_uncached,
    make_calendar,
)

# Hours that reach into the small hours, where spring-forward gaps and fall-back repeats are.
NIGHT_HOURS = {d: [(0, 90), (120, 150), (170, 240), (600, 1440)] for d in range(7)}


@pytest.mark.parametrize(
    "zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]
)
@pytest.mark.parametrize("hours", [DEFAULT_HOURS, NIGHT_HOURS], ids=["office", "night"])
def test_cached_day_intervals_match_the_plain_ones(zone: str, hours: dict) -> None:
    holidays = [date(2026, 10, 1), date(2026, 3, 29), date(2026, 11, 1)]
    cal = make_calendar(zone, hours, holidays)
    day = date(2026, 1, 1)
    for _ in range(2 * 366):
        assert day_intervals(cal, day) == day_intervals_uncached(cal, day), day
        assert day_intervals(cal, day) == day_intervals_uncached(cal, day), day  # from the cache
        day += timedelta(days=1)


def test_two_calendars_of_one_zone_do_not_share_days() -> None:
    day = date(2026, 12, 7)  # a Monday
    early = make_calendar("Asia/Shanghai", {0: [(8 * 60, 12 * 60)]})
    late = make_calendar("Asia/Shanghai", {0: [(13 * 60, 20 * 60)]})
    off = make_calendar("Asia/Shanghai", {0: [(8 * 60, 12 * 60)]}, [day])
    assert day_intervals(early, day) == day_intervals_uncached(early, day)
    assert day_intervals(late, day) == day_intervals_uncached(late, day)
    assert day_intervals(early, day) != day_intervals(late, day)
    assert day_intervals(off, day) == []


def test_a_caller_changing_its_list_leaves_the_cache_alone() -> None:
    cal = make_calendar("Asia/Shanghai", DEFAULT_HOURS)
    day = date(2026, 12, 7)
    first = day_intervals(cal, day)
    first.clear()
    assert day_intervals(cal, day) == day_intervals_uncached(cal, day) != []
