"""Credential throttling per phone (growing delays, then a lock only an OTP reset lifts) and
per client address (a fixed window). Atomic in Redis (INCR+EXPIRE in one MULTI pipeline),
in-process dictionaries when no Redis is configured. Times come from the runtime clock so the
delays can be travelled over in tests; Redis TTLs only clean up."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from auth.domain import failure_delay
from core.errors import Throttled

DAY = 86400


class AccountLocked(Throttled):
    slug, title = "locked", "Too many failed attempts; reset the PIN by SMS code to unlock"


class Throttle:
    def __init__(
        self,
        redis: Any,
        prefix: str,
        *,
        delay_after: int,
        max_failures: int,
        ip_limit_per_minute: int,
    ) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:auth"
        self.delay_after = delay_after
        self.max_failures = max_failures
        self.ip_limit = ip_limit_per_minute
        self._mem: dict[str, tuple[float, float]] = {}  # key -> (value, expires monotonic)

    # -- tiny store with two backends -------------------------------------------------------
    async def _incr(self, key: str, ttl: int) -> int:
        if self.redis is not None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, ttl, nx=True)
            count, _ = await pipe.execute()
            return int(count)
        value = self._get_mem(key) or 0.0
        expires = self._mem[key][1] if key in self._mem else time.monotonic() + ttl
        self._mem[key] = (value + 1, expires)
        return int(value + 1)

    def _get_mem(self, key: str) -> float | None:
        item = self._mem.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            del self._mem[key]
            return None
        return item[0]

    async def _get_many(self, *keys: str) -> list[float | None]:
        if self.redis is not None:
            raw = await self.redis.mget(keys)
            return [float(v) if v is not None else None for v in raw]
        return [self._get_mem(k) for k in keys]

    async def _set(self, key: str, value: float, ttl: int | None) -> None:
        if self.redis is not None:
            await self.redis.set(key, str(value), ex=ttl)
            return
        self._mem[key] = (value, time.monotonic() + (ttl if ttl else 10 * 365 * DAY))

    async def _delete(self, *keys: str) -> None:
        if self.redis is not None:
            await self.redis.delete(*keys)
            return
        for k in keys:
            self._mem.pop(k, None)

    # -- policy ------------------------------------------------------------------------------
    def _keys(self, subject: str) -> tuple[str, str, str]:
        base = f"{self.prefix}:{subject}"
        return f"{base}:fails", f"{base}:next", f"{base}:lock"

    async def hit_address(self, address: str, now: datetime) -> None:
        """Count one credential request from this client address (fixed one-minute window)."""
        window = int(now.timestamp()) // 60
        count = await self._incr(f"{self.prefix}:ip:{address}:{window}", 120)
        if count > self.ip_limit:
            raise Throttled("too many attempts from this address", 60 - int(now.timestamp()) % 60)

    async def check(self, subject: str, now: datetime) -> None:
        """Raise Throttled (wait) or AccountLocked before any hashing happens."""
        _, next_key, lock_key = self._keys(subject)
        next_at, locked = await self._get_many(next_key, lock_key)
        if locked:
            raise AccountLocked(retry_after=3600)
        if next_at and next_at > now.timestamp():
            raise Throttled("wait before trying again", int(next_at - now.timestamp()) + 1)

    async def failure(self, subject: str, now: datetime) -> bool:
        """Record a miss; return True when this miss locked the subject."""
        fails_key, next_key, lock_key = self._keys(subject)
        fails = await self._incr(fails_key, DAY)
        delay = failure_delay(fails, delay_after=self.delay_after, max_failures=self.max_failures)
        if delay is None:
            await self._set(lock_key, 1, None)
            return True
        if delay:
            await self._set(next_key, now.timestamp() + delay, delay + 3600)
        return False

    async def success(self, subject: str) -> None:
        fails_key, next_key, _ = self._keys(subject)
        await self._delete(fails_key, next_key)

    async def unlock(self, subject: str) -> None:
        await self._delete(*self._keys(subject))

    async def is_locked(self, subject: str) -> bool:
        (locked,) = await self._get_many(self._keys(subject)[2])
        return bool(locked)
