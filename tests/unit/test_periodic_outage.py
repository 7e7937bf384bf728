"""A periodic job (the outbox relay) that meets a dropped database connection logs one warning
line naming the error and runs again next tick; any other failure keeps its traceback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
import structlog
from sqlalchemy.exc import DBAPIError
from structlog.testing import capture_logs

from api import outbox_jobs, periodic


def _dropped() -> DBAPIError:
    lost = asyncpg.exceptions.ConnectionDoesNotExistError(
        "connection was closed in the middle of operation"
    )
    return DBAPIError("SELECT 1", None, lost)


class _Sender:
    topics = frozenset({"order.paid"})

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        raise AssertionError("nothing can be claimed without a database")


async def _ticks(failure: Exception, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls = 0

    def sessions() -> Any:  # the relay's sessionmaker, with the connection gone
        nonlocal calls
        calls += 1
        raise failure

    clock = SimpleNamespace(now=lambda: datetime.now(UTC))
    services: Any = SimpleNamespace(
        outbox_sender=_Sender(), runtime=SimpleNamespace(sessions=sessions, clock=clock)
    )
    job = periodic.PeriodicJob("outbox-relay", 0.01, outbox_jobs.relay_job)
    stop = asyncio.Event()
    with capture_logs() as logs:
        # A logger already used under the app's logging config is cached and would bypass
        # the capture (other tests build apps first): log through a fresh one here.
        monkeypatch.setattr(periodic, "log", structlog.get_logger("hotline.test"))
        task = asyncio.create_task(periodic._loop(services, job, stop))
        while calls < 2:  # the loop survived the first failure and ran again
            await asyncio.sleep(0.01)
        stop.set()
        await task
    return [e for e in logs if e.get("job") == "outbox-relay"]


async def test_a_dropped_connection_is_one_warning_line_and_the_next_tick_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entries = await _ticks(_dropped(), monkeypatch)
    assert entries, "nothing logged"
    for entry in entries:
        assert entry["log_level"] == "warning"
        assert entry["service"] == "database" and entry["error"] == "DBAPIError"
        assert "exc_info" not in entry


async def test_any_other_failure_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    entries = await _ticks(RuntimeError("a bug"), monkeypatch)
    assert entries and all(e["log_level"] == "error" and e.get("exc_info") for e in entries)


class _Said(list[dict[str, Any]]):
    """A logger that keeps every line: the app's logging config (which drops info lines in
    the test env) and structlog's logger cache are not what these tests are about."""

    def _say(self, level: str, event: str, **fields: Any) -> None:
        self.append({"log_level": level, "event": event, **fields})

    def warning(self, event: str, **fields: Any) -> None:
        self._say("warning", event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._say("info", event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        self._say("error", event, **fields)


async def test_a_long_outage_is_said_once_then_now_and_then_then_when_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found in the sweep: with PostgreSQL down the 0.1 s relay logged a warning every tick,
    ten lines a second for as long as the outage lasted, beside every other job's."""
    from api import outages

    monkeypatch.setattr(outages, "QUIET_SECONDS", 0.5, raising=False)  # a minute in production
    down, calls = True, 0

    async def run(_services: object) -> None:
        nonlocal calls
        calls += 1
        if down:
            raise _dropped()

    jobs = [periodic.PeriodicJob(name, 0.005, run) for name in ("outbox.relay", "holds")]
    logs = _Said()
    monkeypatch.setattr(periodic, "log", logs)
    runner = periodic.PeriodicRunner(SimpleNamespace(), jobs)  # type: ignore[arg-type]
    runner.start()
    await asyncio.sleep(1.3)  # hundreds of failed ticks
    failed_ticks, down = calls, False
    while calls < failed_ticks + 10:
        await asyncio.sleep(0.01)
    await runner.stop()
    said = [(e["log_level"], e["event"]) for e in logs if e.get("service") == "database"]
    assert failed_ticks > 50 and len(said) <= 5, f"{len(said)} lines for {failed_ticks} ticks"
    assert said[0][0] == "warning" and "skipped: dependency unavailable" in said[0][1], said
    still = [s for s in said[1:-1] if "still unavailable" in s[1]]
    assert 1 <= len(still) <= 3 and len(said) == len(still) + 2, said
    assert said[-1] == ("info", "dependency available again: periodic jobs run"), said


def test_the_outage_log_says_which_jobs_waited_and_for_how_long() -> None:
    from api.outages import QUIET_SECONDS, OutageLog

    now, logs = 100.0, _Said()
    said = OutageLog(logs, clock=lambda: now)
    said.failed("outbox.relay", "database", _dropped())
    for _ in range(30):
        said.failed("holds", "database", _dropped())
    now += QUIET_SECONDS
    said.failed("outbox.relay", "database", _dropped())
    said.succeeded("sms.sweep")  # never failed: proves nothing about the database
    now += 5
    said.succeeded("holds")
    said.succeeded("outbox.relay")
    first, still, again = logs
    assert first["job"] == "outbox.relay" and first["error"] == "DBAPIError"
    assert still["jobs"] == ["holds", "outbox.relay"] and still["skipped"] == 31
    assert still["down_seconds"] == round(QUIET_SECONDS)
    assert again["job"] == "holds" and again["down_seconds"] == round(QUIET_SECONDS) + 5
