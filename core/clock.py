"""One clock for the whole service, injectable so tests can travel in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs an aware datetime")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when


def utc(dt: datetime) -> datetime:
    """Normalise to aware UTC; naive values are refused, never guessed."""
    if dt.tzinfo is None:
        raise ValueError("naive datetime: times must carry a zone")
    return dt.astimezone(UTC)


class TravelClock:
    """Real time plus an offset that tests can push forward (time travel on a live server)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self.offset += delta if delta is not None else timedelta(**kwargs)
        return self.now()

    def reset(self) -> None:
        self.offset = timedelta(0)
