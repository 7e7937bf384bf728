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
from api.outages import OutageLog, outage
from core.outbox import forget_wakeup, relay_wakeup

log = structlog.get_logger("hotline.periodic")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_seconds: float
    run: Callable[[Services], Awaitable[object]]
    # also run as soon as a commit in this process emitted an outbox message (core.outbox)
    wakes_on_outbox: bool = False


JOBS: list[PeriodicJob] = []


def register(
    name: str,
    interval_seconds: float,
    run: Callable[[Services], Awaitable[object]],
    *,
    wakes_on_outbox: bool = False,
) -> None:
    if any(job.name == name for job in JOBS):
        return
    JOBS.append(PeriodicJob(name, interval_seconds, run, wakes_on_outbox))


async def _loop(
    services: Services, job: PeriodicJob, stop: asyncio.Event, outages: OutageLog | None = None
) -> None:
    wakeup = relay_wakeup() if job.wakes_on_outbox else None
    try:
        await _ticks(services, job, stop, wakeup, outages or OutageLog(log))
    finally:
        if wakeup is not None:
            forget_wakeup(wakeup)


async def _ticks(
    services: Services,
    job: PeriodicJob,
    stop: asyncio.Event,
    wakeup: asyncio.Event | None,
    outages: OutageLog,
) -> None:
    while not stop.is_set():
        if wakeup is not None:
            wakeup.clear()  # a commit while the job runs sets it again: the next pause is none
        try:
            await job.run(services)
        except Exception as exc:  # a failing job must not kill the loop; it is retried next tick
            service = outage(exc)
            if service is None:
                log.exception("periodic job failed", job=job.name)
            else:  # a restart or a dropped connection: expected, says nothing a traceback adds
                outages.failed(job.name, service, exc)
        else:
            outages.succeeded(job.name)
        await _pause(stop, wakeup, job.interval_seconds)


async def _pause(stop: asyncio.Event, wakeup: asyncio.Event | None, seconds: float) -> None:
    """Until the next tick, or until stopped, or (a woken job) until woken."""
    if wakeup is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        return
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wakeup.wait())]
    await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()


class PeriodicRunner:
    """Runs every registered job in its own asyncio task until stopped."""

    def __init__(self, services: Services, jobs: list[PeriodicJob] | None = None) -> None:
        self.services = services
        self.jobs = list(JOBS if jobs is None else jobs)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.outages = OutageLog(log)  # one per runner: the jobs' outage is said once, not each

    def start(self) -> None:
        for job in self.jobs:
            task = _loop(self.services, job, self._stop, self.outages)
            self._tasks.append(asyncio.create_task(task))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await task
        self._tasks.clear()
