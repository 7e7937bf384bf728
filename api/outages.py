"""A backing service that is down or restarting answers 503 problem+json with Retry-After,
never 500: PostgreSQL (a connection closed under a request, a restart, a refused connect) and
Redis (refused, reset, timed out). The client may simply try again; a PostgreSQL restart is
survived by the next request because SQLAlchemy invalidates the whole pool on the first
disconnect it sees and asyncpg's pool replaces closed connections.

Kept apart from api/problems.py, which only merges `OUTAGE_HANDLERS` into its mapping. Every
other error of the same types (a constraint violation is a DBAPIError too) still goes to the
500 handler: only what is recognised as an outage becomes 503. `OutageLog` is the periodic
jobs' side: an outage they meet is said once, then once a minute, then when it is over."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog
from litestar import Request, Response
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError

from api.problems import problem, unexpected_handler
from core.drivers import connection_lost

UNAVAILABLE_SLUG = "unavailable"
RETRY_AFTER_SECONDS = 2  # a restart of either service takes about this long
log = structlog.get_logger("hotline.api")

_REDIS_GONE = (RedisConnectionError, RedisTimeoutError)
# Plain socket errors: what a refused or dropped connect raises before any driver wraps it.
_SOCKET_GONE = (ConnectionError, TimeoutError)


def outage(exc: BaseException) -> str | None:
    """'database' or 'redis' when `exc` (or what it wraps) says that service is unreachable,
    else None. Follows only explicit causes (`orig`, `raise ... from`), never the implicit
    context, so a bug raised while handling a disconnect stays a 500."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _REDIS_GONE):
            return "redis"
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return "database"
        if connection_lost(current):  # asyncpg, raw (core.drivers) or wrapped by SQLAlchemy
            return "database"
        if isinstance(current, asyncpg.exceptions.TooManyConnectionsError):
            return "database"  # max_connections reached: refused for now, not a bug of ours
        if isinstance(current, _SOCKET_GONE) or type(current) is OSError:
            return "database"  # asyncpg's connect; Redis's are wrapped (matched above)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return None


def outage_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    service = outage(exc)
    if service is None:
        return unexpected_handler(request, exc)
    log.warning(
        "dependency unavailable",
        service=service,
        path=request.url.path,
        error=type(exc).__name__,
        reason=str(exc)[:200],
    )
    return problem(
        503,
        UNAVAILABLE_SLUG,
        "Temporarily unavailable",
        f"The {service} is unavailable for a moment; retry after the Retry-After seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        instance=request.url.path,
    )


# Base classes whose instances may be outages; `outage_handler` sends the rest to the 500
# handler. Litestar picks the handler by the raised type's MRO, so these win over `Exception`.
OUTAGE_HANDLERS: dict[Any, Any] = {
    DBAPIError: outage_handler,
    asyncpg.exceptions.PostgresError: outage_handler,
    asyncpg.exceptions.InterfaceError: outage_handler,
    asyncpg.exceptions.InternalClientError: outage_handler,
    RedisConnectionError: outage_handler,
    RedisTimeoutError: outage_handler,
    OSError: outage_handler,
}


QUIET_SECONDS = 60.0  # while a service stays down, periodic jobs say so at most this often


@dataclass
class _Down:
    since: float
    said_at: float
    jobs: set[str] = field(default_factory=set)
    skipped: int = 0  # ticks skipped since the last line


class OutageLog:
    """What a process's periodic jobs say about an outage: the first failure a warning, then
    one "still unavailable" line per QUIET_SECONDS (the relay ticks every 0.1 s: a line a tick
    was ten a second for as long as PostgreSQL was down), and one line when a job that had
    failed on it runs again. Per service, shared by every job of one runner."""

    def __init__(self, log: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.log, self.clock = log, clock
        self._down: dict[str, _Down] = {}

    def failed(self, job: str, service: str, exc: BaseException) -> None:
        now, down = self.clock(), self._down.get(service)
        if down is None:
            self._down[service] = _Down(since=now, said_at=now, jobs={job})
            self.log.warning(
                "periodic job skipped: dependency unavailable (said again once a minute)",
                job=job,
                service=service,
                error=type(exc).__name__,
            )
            return
        down.jobs.add(job)
        down.skipped += 1
        if now - down.said_at >= QUIET_SECONDS:
            self.log.warning(
                "periodic jobs still skipped: dependency still unavailable",
                service=service,
                down_seconds=round(now - down.since),
                jobs=sorted(down.jobs),
                skipped=down.skipped,
                error=type(exc).__name__,
            )
            down.said_at, down.skipped = now, 0

    def succeeded(self, job: str) -> None:
        for service, down in list(self._down.items()):
            if job in down.jobs:
                del self._down[service]
                self.log.info(
                    "dependency available again: periodic jobs run",
                    service=service,
                    down_seconds=round(self.clock() - down.since),
                    job=job,
                )
