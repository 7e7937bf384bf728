"""Pure ticketing rules: business-time arithmetic (hypothesis), clocks, lifecycle, escalation,
assignment fairness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidTransition, ValidationFailed
from ticketing.calendar import (
    Calendar,
    add_business_seconds,
    business_seconds,
    default_calendar,
    make_calendar,
)
from ticketing.domain import (
    PAUSE,
    RESOLUTION,
    RESUME,
    START,
    STOP,
    AgentLoad,
    ClockEvent,
    Status,
    check_transition,
    choose_agent,
    clock_state,
    escalation_targets,
    levels_reached,
)

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]
BASE = datetime(2026, 1, 1, tzinfo=UTC)

instants = st.integers(0, 2 * 366 * 86400).map(lambda s: BASE + timedelta(seconds=s))
intervals = st.lists(
    st.tuples(st.integers(0, 1400), st.integers(30, 600)).map(
        lambda t: (t[0], min(1440, t[0] + t[1]))
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    zone = draw(st.sampled_from(ZONES))
    hours = {}
    for day in draw(st.sets(st.integers(0, 6), min_size=1)):
        ivs = sorted(draw(intervals))
        merged: list[tuple[int, int]] = []
        for a, b in ivs:
            if merged and a < merged[-1][1]:
                continue
            merged.append((a, b))
        hours[day] = merged
    holidays = draw(st.lists(st.dates(date(2026, 1, 1), date(2028, 1, 1)), max_size=10))
    return make_calendar(zone, hours, holidays)


@settings(max_examples=150, deadline=None)
@given(cal=calendars(), start=instants, seconds=st.integers(0, 40 * 3600))
def test_add_then_measure_back_gives_the_same_seconds(
    cal: Calendar, start: datetime, seconds: int
) -> None:
    due = add_business_seconds(cal, start, seconds)
    assert business_seconds(cal, start, due) == seconds


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), a=instants, b=instants, c=instants)
def test_measure_is_additive(cal: Calendar, a: datetime, b: datetime, c: datetime) -> None:
    a, b, c = sorted([a, b, c])
    assert business_seconds(cal, a, c) == business_seconds(cal, a, b) + business_seconds(cal, b, c)


@settings(max_examples=100, deadline=None)
@given(cal=calendars(), start=instants, seconds=st.integers(1, 20 * 3600))
def test_holidays_never_count(cal: Calendar, start: datetime, seconds: int) -> None:
    due = add_business_seconds(cal, start, seconds)
    local = start.astimezone(cal.tz()).date()
    extra = Calendar(
        cal.zone, cal.hours, cal.holidays | {local + timedelta(days=i) for i in range(3)}
    )
    if not any(
        extra.hours.get(d.weekday()) for d in [local + timedelta(days=i) for i in range(3, 10)]
    ):
        return
    # The same amount of business time ends no earlier, and a full holiday counts for nothing.
    assert add_business_seconds(extra, start, seconds) >= due
    assert business_seconds(extra, start, start + timedelta(days=2)) <= business_seconds(
        cal, start, start + timedelta(days=2)
    )
    day0 = datetime.combine(local + timedelta(days=1), datetime.min.time(), tzinfo=cal.tz())
    assert business_seconds(extra, day0, day0 + timedelta(hours=23)) == 0


def test_dst_days_count_wall_clock_hours_not_utc_hours() -> None:
    cal = make_calendar("America/New_York", {6: [(0, 1440)], 5: [(0, 1440)]})
    spring = datetime(2026, 3, 8, tzinfo=cal.tz())  # Sunday, 23-hour day
    fall = datetime(2026, 11, 1, tzinfo=cal.tz())  # Sunday, 25-hour day
    assert business_seconds(cal, spring, spring + timedelta(days=1)) == 23 * 3600
    assert business_seconds(cal, fall, fall + timedelta(days=1)) == 25 * 3600
    nine_to_five = make_calendar("America/New_York", {d: [(540, 1020)] for d in range(7)})
    assert business_seconds(nine_to_five, spring, spring + timedelta(days=1)) == 8 * 3600
    assert business_seconds(nine_to_five, fall, fall + timedelta(days=1)) == 8 * 3600


def test_shanghai_default_lunch_break_and_weekend() -> None:
    cal = default_calendar()
    fri_1130 = datetime(2026, 11, 20, 11, 30, tzinfo=cal.tz())
    due = add_business_seconds(cal, fri_1130, 3600)
    assert due == datetime(2026, 11, 20, 13, 30, tzinfo=cal.tz())
    fri_1730 = datetime(2026, 11, 20, 17, 30, tzinfo=cal.tz())
    assert add_business_seconds(cal, fri_1730, 3600) == datetime(
        2026, 11, 21, 10, 30, tzinfo=cal.tz()
    )


def test_bad_calendar_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        make_calendar("Mars/Olympus", {0: [(0, 60)]})
    with pytest.raises(ValidationFailed):
        make_calendar("UTC", {0: [(600, 500)]})
    with pytest.raises(ValidationFailed):
        make_calendar("UTC", {})


@settings(max_examples=100, deadline=None)
@given(
    cal=calendars(),
    start=instants,
    gaps=st.lists(st.tuples(st.integers(0, 86400 * 3), st.integers(0, 86400 * 3)), max_size=4),
)
def test_pauses_never_count(cal: Calendar, start: datetime, gaps: list[tuple[int, int]]) -> None:
    events = [ClockEvent(RESOLUTION, START, start)]
    at = start
    running_total = 0
    for run, pause in gaps:
        end_run = at + timedelta(seconds=run)
        running_total += business_seconds(cal, at, end_run)
        events.append(ClockEvent(RESOLUTION, PAUSE, end_run))
        at = end_run + timedelta(seconds=pause)
        events.append(ClockEvent(RESOLUTION, RESUME, at))
    now = at + timedelta(hours=1)
    running_total += business_seconds(cal, at, now)
    state = clock_state(cal, RESOLUTION, 10**9, events, now)
    assert state.elapsed_business_seconds == running_total


def test_clock_due_breach_and_pause() -> None:
    cal = make_calendar("UTC", {d: [(0, 1440)] for d in range(7)})
    t0 = datetime(2026, 11, 2, 8, tzinfo=UTC)
    evs = [ClockEvent(RESOLUTION, START, t0)]
    s = clock_state(cal, RESOLUTION, 3600, evs, t0 + timedelta(minutes=30))
    assert (s.due_at, s.remaining_business_seconds, s.paused, s.breached_at) == (
        t0 + timedelta(hours=1),
        1800,
        False,
        None,
    )
    evs.append(ClockEvent(RESOLUTION, PAUSE, t0 + timedelta(minutes=30)))
    s = clock_state(cal, RESOLUTION, 3600, evs, t0 + timedelta(hours=5))
    assert s.paused and s.due_at is None and s.remaining_business_seconds == 1800
    evs.append(ClockEvent(RESOLUTION, RESUME, t0 + timedelta(hours=5)))
    s = clock_state(cal, RESOLUTION, 3600, evs, t0 + timedelta(hours=6))
    assert s.breached_at == t0 + timedelta(hours=5, minutes=30)
    assert levels_reached(s) == ["warn75", "warn90", "breach"]
    evs.append(ClockEvent(RESOLUTION, STOP, t0 + timedelta(hours=7)))
    s = clock_state(cal, RESOLUTION, 3600, evs, t0 + timedelta(hours=9))
    assert s.stopped and s.breached_at == t0 + timedelta(hours=5, minutes=30)


def test_state_machine() -> None:
    check_transition(Status.NEW, Status.OPEN)
    check_transition(Status.RESOLVED, Status.REOPENED)
    check_transition(Status.REOPENED, Status.OPEN)
    for cur, to in [
        (Status.NEW, Status.CLOSED),
        (Status.CLOSED, Status.OPEN),
        (Status.OPEN, Status.NEW),
    ]:
        with pytest.raises(InvalidTransition):
            check_transition(cur, to)


def test_escalation_chain() -> None:
    assert escalation_targets("warn75", "a1", "s1") == ["a1"]
    assert escalation_targets("warn90", "a1", "s1") == ["a1", "s1"]
    assert escalation_targets("breach", "a1", "s1") == ["s1"]
    assert escalation_targets("warn75", None, "s1") == ["s1"]


def test_assignment_is_fair_over_many_tickets() -> None:
    loads = {f"a{i}": 0 for i in range(5)}
    caps = {"a0": 3, "a1": 100, "a2": 100, "a3": 100, "a4": 100}
    for _ in range(203):
        pick = choose_agent([AgentLoad(a, n, caps[a]) for a, n in loads.items()])
        assert pick is not None
        loads[pick] += 1
    assert loads["a0"] == 3
    others = [loads[a] for a in ("a1", "a2", "a3", "a4")]
    assert max(others) - min(others) <= 1
    assert choose_agent([AgentLoad("x", 2, 2), AgentLoad("y", 0, 5, available=False)]) is None
