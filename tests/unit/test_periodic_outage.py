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
