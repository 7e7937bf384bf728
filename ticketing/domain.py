"""Pure ticketing rules: lifecycle, SLA clocks from append-only segments, escalation levels,
assignment choice, readable numbers. No I/O here."""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.errors import InvalidTransition, ValidationFailed

from .calendar import Calendar, add_business_seconds, business_seconds


class Status(StrEnum):
    NEW = "new"
    OPEN = "open"
    PENDING_CUSTOMER = "pending_customer"
    PENDING_PARTNER = "pending_partner"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    CLOSED = "closed"


CATEGORIES = ("service", "product", "delivery", "billing", "payment", "other")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("phone", "sms", "web", "email", "app")

S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.NEW: frozenset({S.OPEN}),
    S.OPEN: frozenset({S.PENDING_CUSTOMER, S.PENDING_PARTNER, S.RESOLVED}),
    S.PENDING_CUSTOMER: frozenset({S.OPEN}),
    S.PENDING_PARTNER: frozenset({S.OPEN}),
    S.RESOLVED: frozenset({S.CLOSED, S.REOPENED}),
    S.REOPENED: frozenset({S.OPEN}),
    S.CLOSED: frozenset(),
}


def parse_status(value: str) -> Status:
    try:
        return Status(value)
    except ValueError as exc:
        raise ValidationFailed.field("to", f"unknown status {value!r}") from exc


def check_transition(current: Status, to: Status) -> None:
    if to not in TRANSITIONS[current]:
        raise InvalidTransition(f"cannot go from {current} to {to}")


def check_choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationFailed.field(name, f"must be one of {', '.join(allowed)}")
    return value


# --- SLA clocks ------------------------------------------------------------------------------

FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION = "first_response", "next_response", "resolution"
CLOCKS = (FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION)
# Clock events are appended, never edited: each marks what the clock does from `at` on.
START, PAUSE, RESUME, STOP = "start", "pause", "resume", "stop"


@dataclass(frozen=True)
class ClockEvent:
    clock: str
    kind: str
    at: datetime
    seq: int = 0  # the row's per-ticket sequence once stored (0 while not yet written)


def clock_cycle(events: Sequence[ClockEvent], clock: str, now: datetime) -> int:
    """Which run of `clock` is current: the seq of its latest `start` (0: never started).

    A clock that starts again (the next-response clock after each customer reply) is a new
    cycle whose levels fire again; the escalation key carries this number.
    """
    evs = sorted((e for e in events if e.clock == clock and e.at <= now), key=lambda e: e.at)
    starts = [e.seq for e in evs if e.kind == START]
    return starts[-1] if starts else 0


@dataclass(frozen=True)
class ClockState:
    clock: str
    target_seconds: int
    running: bool
    paused: bool
    stopped: bool
    elapsed_business_seconds: int
    remaining_business_seconds: int
    due_at: datetime | None
    breached_at: datetime | None
    started: bool
    running_since: datetime | None = None
    base_elapsed: int = 0

    @property
    def fraction(self) -> float:
        return self.elapsed_business_seconds / self.target_seconds if self.target_seconds else 0.0


def clock_state(
    cal: Calendar, clock: str, target: int, events: Sequence[ClockEvent], now: datetime
) -> ClockState:
    """Fold one clock's events (only those from its latest `start`) into its state at `now`.

    Only running segments count; paused and stopped time never does.
    """
    evs = sorted((e for e in events if e.clock == clock and e.at <= now), key=lambda e: e.at)
    starts = [i for i, e in enumerate(evs) if e.kind == START]
    if not starts:
        return ClockState(clock, target, False, False, False, 0, target, None, None, False)
    evs = evs[starts[-1] :]
    elapsed = 0
    breached_at: datetime | None = None
    running_since: datetime | None = None
    last_kind = START
    for e in evs:
        if e.kind in (START, RESUME):
            if running_since is None:
                running_since = e.at
        elif e.kind in (PAUSE, STOP) and running_since is not None:
            seg = business_seconds(cal, running_since, e.at)
            if breached_at is None and elapsed + seg >= target:
                breached_at = add_business_seconds(cal, running_since, target - elapsed)
            elapsed += seg
            running_since = None
        last_kind = e.kind if e.kind != RESUME else START
    due_at: datetime | None = None
    base = elapsed
    if running_since is not None:
        seg = business_seconds(cal, running_since, now)
        moment = _due(cal, running_since, max(0, target - elapsed))
        if breached_at is None and elapsed + seg >= target:
            breached_at = moment
        due_at = moment if elapsed < target else breached_at
        elapsed += seg
    stopped = last_kind == STOP
    paused = last_kind == PAUSE
    return ClockState(
        clock=clock,
        target_seconds=target,
        running=running_since is not None,
        paused=paused,
        stopped=stopped,
        elapsed_business_seconds=elapsed,
        remaining_business_seconds=max(0, target - elapsed),
        due_at=due_at,
        breached_at=breached_at,
        started=True,
        running_since=running_since,
        base_elapsed=base,
    )


def breach_moment(states: Sequence[ClockState]) -> datetime | None:
    """The earliest breach of the clocks' current cycles: one that happened, or the moment a
    running clock will breach if nothing changes (paused and stopped ones move no more)."""
    moments = [
        s.breached_at if s.breached_at is not None else s.due_at
        for s in states
        if s.breached_at is not None or (s.running and s.due_at is not None)
    ]
    return min((m for m in moments if m is not None), default=None)


def _due(cal: Calendar, start: datetime, seconds: int) -> datetime | None:
    try:
        return add_business_seconds(cal, start, seconds)
    except ValidationFailed:  # no working time for years: no due moment to show
        return None


def clock_events_for_transition(to: Status, now: datetime) -> list[ClockEvent]:
    """What the clocks do when the ticket enters `to` (written with the status change)."""
    if to in (S.PENDING_CUSTOMER, S.PENDING_PARTNER):
        return [ClockEvent(RESOLUTION, PAUSE, now)]
    if to in (S.OPEN, S.REOPENED):
        return [ClockEvent(RESOLUTION, RESUME, now)]
    if to == S.RESOLVED:
        return [ClockEvent(c, STOP, now) for c in CLOCKS]
    return []


# --- escalation --------------------------------------------------------------------------------

LEVELS: tuple[tuple[str, float], ...] = (("warn75", 0.75), ("warn90", 0.90), ("breach", 1.0))


def levels_reached(state: ClockState) -> list[str]:
    """Escalation levels a clock has reached (each fires once; the job records them)."""
    if not state.started or state.target_seconds <= 0:
        return []
    return [
        name
        for name, frac in LEVELS
        if state.elapsed_business_seconds >= frac * state.target_seconds
    ]


def next_check(cal: Calendar, state: ClockState) -> datetime | None:
    """When this running clock reaches its next escalation level (None: stopped or paused)."""
    if state.running_since is None:
        return None
    for _name, frac in LEVELS:
        need = math.ceil(frac * state.target_seconds)
        if state.elapsed_business_seconds < need:
            return _due(cal, state.running_since, max(0, need - state.base_elapsed))
    return None


def escalation_targets(level: str, assignee: str | None, supervisor: str | None) -> list[str]:
    """Up the chain: 75% -> assignee; 90% -> assignee and queue supervisor; breach -> supervisor."""
    if level == "warn75":
        chain = [assignee or supervisor]
    elif level == "warn90":
        chain = [assignee, supervisor]
    else:
        chain = [supervisor or assignee]
    return [c for c in dict.fromkeys(chain) if c]


# --- assignment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentLoad:
    agent_id: str
    open_tickets: int
    cap: int
    available: bool = True
    last_assigned_at: datetime | None = None


def choose_agent(candidates: Sequence[AgentLoad]) -> str | None:
    """Least-loaded available agent under their cap; ties go to who waited longest, then id."""
    eligible = [c for c in candidates if c.available and c.open_tickets < c.cap]
    if not eligible:
        return None
    floor = datetime.min.replace(tzinfo=None)

    def key(c: AgentLoad) -> tuple[int, datetime, str]:
        when = c.last_assigned_at.replace(tzinfo=None) if c.last_assigned_at else floor
        return (c.open_tickets, when, c.agent_id)

    return min(eligible, key=key).agent_id


def new_ticket_number() -> str:
    """Nine digits in three groups, easy to read out on the phone: '482-117-730'."""
    digits = f"{secrets.randbelow(10**9):09d}"
    return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"


def check_score(score: int) -> int:
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise ValidationFailed.field("score", "must be an integer 1 to 5")
    return score


DEFAULT_TARGETS: dict[str, tuple[int, int, int]] = {
    # priority: (first response, next response, resolution) in business seconds
    "urgent": (15 * 60, 30 * 60, 4 * 3600),
    "high": (30 * 60, 2 * 3600, 8 * 3600),
    "normal": (2 * 3600, 4 * 3600, 3 * 8 * 3600),
    "low": (8 * 3600, 8 * 3600, 5 * 8 * 3600),
}
DEFAULT_FOLLOWUP_SECONDS = 8 * 3600
