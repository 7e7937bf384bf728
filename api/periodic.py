"""Periodic jobs (hold expiry, escalation, payment sweeps, outbox relay).

Each room registers `(name, interval_seconds, fn(services))` here from api/wiring.py; the
runner holds the process's composition (api.composition) and hands it to every job. The
in-process runner (embedded defaults) and `hotline worker` both run the same list; every job
must be safe to run concurrently in several processes (SKIP LOCKED or conditional updates).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from api.composition import Services
from api.outages import outage

log = structlog.get_logger("hotline.periodic")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[Services], Awaitable[object]]


JOBS: list[PeriodicJob] = []


def register(
    name: str, interval_seconds: float, run: Callable[[Services], Awaitable[object]]
) -> None:
    if any(job.name == name for job in JOBS):
        return
    JOBS.append(PeriodicJob(name, interval_seconds, run))


async def _loop(services: Services, job: PeriodicJob, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await job.run(services)
        except Exception as exc:  # a failing job must not kill the loop; it is retried next tick
            service = outage(exc)
            if service is None:
                log.exception("periodic job failed", job=job.name)
            else:  # a restart or a dropped connection: expected, says nothing a traceback adds
                log.warning(
                    "periodic job skipped: dependency unavailable",
                    job=job.name,
                    service=service,
                    error=type(exc).__name__,
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=job.interval_seconds)


class PeriodicRunner:
    """Runs every registered job in its own asyncio task until stopped."""

    def __init__(self, services: Services, jobs: list[PeriodicJob] | None = None) -> None:
        self.services = services
        self.jobs = list(JOBS if jobs is None else jobs)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for job in self.jobs:
            self._tasks.append(asyncio.create_task(_loop(self.services, job, self._stop)))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await task
        self._tasks.clear()
