"""The process-wide infrastructure a request, a job or a CLI command needs, built once from
settings: database engine and sessions, clock, Redis, drivers. Typed fields only; the rooms'
ports (gateway, SMS, throttle, ...) are built on top of it by api.composition.

Rooms receive what they need from here as arguments; nothing is a module-level global,
so tests can build as many runtimes as they like against different databases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.clock import Clock, SystemClock
from core.db import is_postgres, make_engine, make_sessionmaker
from core.drivers import DriverPool
from core.settings import Settings

REDIS_TIMEOUT_SECONDS = 2.0


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    redis: Any = None  # redis.asyncio.Redis when HOTLINE_REDIS_URL is set
    drivers: DriverPool | None = None  # PostgreSQL: asyncpg's pool for the hot paths
    # (engine, its autocommit twin), made on first use; keyed by the engine tests may swap
    _autocommit: tuple[AsyncEngine, AsyncEngine] | None = field(
        default=None, repr=False, compare=False
    )

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Runtime:
        engine = make_engine(settings.database_url)
        redis = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            # Bounded waits: an unreachable Redis must fail fast so callers can fall back
            # (auth.throttle) instead of hanging the request on a connect that never answers.
            redis = aioredis.from_url(
                settings.redis_url,
                decode_responses=False,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
            )
        return cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            clock=clock or SystemClock(),
            redis=redis,
            drivers=DriverPool(settings.database_url) if is_postgres(engine) else None,
        )

    def autocommit(self) -> AsyncEngine:
        """The same pool without transactions, for single statements that are atomic alone
        (a lookup, one INSERT): no BEGIN and COMMIT round trips around them."""
        cached = self._autocommit
        if cached is None or cached[0] is not self.engine:  # tests may swap the engine
            cached = (self.engine, self.engine.execution_options(isolation_level="AUTOCOMMIT"))
            self._autocommit = cached
        return cached[1]

    async def close(self) -> None:
        if self.drivers is not None:
            await self.drivers.close()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()
