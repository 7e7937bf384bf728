"""Credential throttling per phone (growing delays, then a lock only an OTP reset lifts) and
per client address (a fixed window). Atomic in Redis (INCR+EXPIRE in one Lua script),
in-process dictionaries when no Redis is configured. Times come from the runtime clock so the
delays can be travelled over in tests; Redis TTLs only clean up.

An attempt is counted before its secret is verified (`attempt`) and the count is cleared on
success, so parallel guesses cannot slip past the lock while the first ones are still hashing.
Failures stay counted until a success or a reset: the counter's TTL (30 days) is refreshed on
every attempt, so a slow guesser does not get a fresh budget each day.

When Redis is unreachable (down, restarting, timing out) the counters fall back to this
process's memory instead of failing the request: agents must keep logging in and verifying
callers to take phone orders. Why that does not open a door to guessers who manage to take
Redis down:
  - the PIN lock that matters is also on the customer row (auth.service.check_pin reads it on
    every attempt, whatever store the counters are in), and a lock reached in memory is written
    there too, so every process refuses the number;
  - memory counters are kept for their full TTL and never cleared by Redis coming back, so
    outages do not hand out fresh budgets: across any number of them a subject gets at most
    (1 + processes) x `max_failures` misses before a lock, instead of `max_failures`; against
    a million PINs or a 12+ character password that is no practical gain (an agent's lock lives
    only in Redis, so during an outage it is that agent's memory count that stops guessers);
  - the memory store is bounded (`MEMORY_KEYS`): when full of live entries it refuses with 503
    `unavailable` rather than evicting, since evicting would forget a guesser's count.
Redis is tried again `REDIS_RETRY_SECONDS` after a failure (not on every request, which
would pay a failed connect each time)."""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import Any

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from auth.domain import failure_delay
from auth.window_counts import WindowCounts
from core.errors import DomainError, Throttled

log = structlog.get_logger("hotline.auth")

DAY = 86400
FAILS_TTL = 30 * DAY
CODE_INTERVAL = 60  # seconds between two one-time codes to one number
CODES_PER_HOUR = 5
MEMORY_KEYS = 100_000  # live counters kept in memory (a few hundred bytes each)
REDIS_RETRY_SECONDS = 1.0  # after Redis failed, count in memory this long before trying again
# What an unreachable Redis raises (refused, reset, closed mid-command, timed out); any other
# Redis error is a bug and stays a 500.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)

# A fail counter's INCR and its refreshed TTL in one atomic step and one command (EVALSHA
# costs about 60% of a MULTI pipeline's client time: redis-py builds and parses each pipeline
# in Python).
_INCR_REFRESH = """
local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return count
"""

# Take back one counted attempt, never below zero (the count may have been cleared meanwhile).
_UNCOUNT = """
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""

# Sliding window of sent codes per number (a sorted set scored by clock time), checked and
# recorded in one step so two simultaneous requests cannot both get a code.
_SEND_CODE = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < tonumber(ARGV[3]) then
  return {'minute', tostring(tonumber(ARGV[3]) - (now - tonumber(last[2])))}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'hour', tostring(tonumber(first[2]) + 3600 - now)}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], 7200)
return {'ok', '0'}
"""


class AccountLocked(Throttled):
    slug, title = "locked", "Too many failed attempts; reset the PIN by SMS code to unlock"


class CountersUnavailable(DomainError):
    """The in-memory fallback is full of live counters: refuse rather than forget one."""

    status, slug, title = 503, "unavailable", "Temporarily unavailable"

    def __init__(self) -> None:
        super().__init__(
            "attempt counters are unavailable; try again shortly", headers={"Retry-After": "5"}
        )


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
        self._sent: dict[str, list[float]] = {}  # number -> clock times of codes sent
        self._incr_script: Any = None
        self._windows = WindowCounts(redis)  # per-address windows (used only with Redis)
        self._redis_down_until = 0.0  # monotonic; Redis is skipped until then
        self._swept_at = 0.0

    # -- tiny store with two backends -------------------------------------------------------
    def _live_redis(self) -> Any:
        """The Redis client, or None while counting in memory (no Redis, or it just failed)."""
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return None
        return self.redis

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("redis unreachable, throttling in process memory", error=repr(exc))

    async def _incr(self, key: str, ttl: int, *, refresh: bool = False) -> int:
        """Add one and return the new count; the TTL starts at the first count, or restarts at
        every count when `refresh`."""
        redis = self._live_redis()
        if redis is not None:
            try:
                return await self._incr_redis(redis, key, ttl, refresh)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        value = self._get_mem(key) or 0.0
        keep = key in self._mem and not refresh
        expires = self._mem[key][1] if keep else time.monotonic() + ttl
        self._put_mem(key, value + 1, expires)
        return int(value + 1)

    async def _incr_redis(self, redis: Any, key: str, ttl: int, refresh: bool) -> int:
        if not refresh:
            # The per-address window: concurrent hits share one INCRBY (window_counts.py).
            return await self._windows.hit(key, ttl)
        if self._incr_script is None:
            self._incr_script = redis.register_script(_INCR_REFRESH)
        return int(await self._incr_script(keys=[key], args=[ttl]))

    def _get_mem(self, key: str) -> float | None:
        item = self._mem.get(key)
        if item is None:
            return None
        if item[1] < time.monotonic():
            del self._mem[key]
            return None
        return item[0]

    def _put_mem(self, key: str, value: float, expires: float) -> None:
        if key not in self._mem and len(self._mem) + len(self._sent) >= MEMORY_KEYS:
            self._sweep_mem()
        self._mem[key] = (value, expires)

    def _sweep_mem(self) -> None:
        """Drop expired entries (at most once a second: a full scan is dear); still full ->
        refuse, never evict a live count."""
        now = time.monotonic()
        if now - self._swept_at >= 1.0:
            self._swept_at = now
            for k in [k for k, (_, exp) in self._mem.items() if exp < now]:
                del self._mem[k]
            newest = max((t[-1] for t in self._sent.values() if t), default=0.0)
            for k in [k for k, t in self._sent.items() if not t or t[-1] < newest - 3600]:
                del self._sent[k]
        if len(self._mem) + len(self._sent) >= MEMORY_KEYS:
            raise CountersUnavailable()

    async def _get_many(self, *keys: str) -> list[float | None]:
        redis = self._live_redis()
        if redis is not None:
            try:
                raw = await redis.mget(keys)
                return [float(v) if v is not None else None for v in raw]
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        return [self._get_mem(k) for k in keys]

    async def _set(self, key: str, value: float, ttl: int | None) -> None:
        redis = self._live_redis()
        if redis is not None:
            try:
                await redis.set(key, str(value), ex=ttl)
                return
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        self._put_mem(key, value, time.monotonic() + (ttl if ttl else 10 * 365 * DAY))

    async def _delete(self, *keys: str) -> None:
        """Clear both stores: a success or reset must not leave a stale count behind in
        either (Redis stays best effort: unreachable, its keys are cleared by the next
        success or expire)."""
        for k in keys:
            self._mem.pop(k, None)
        redis = self._live_redis()
        if redis is not None:
            try:
                await redis.delete(*keys)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)

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

    async def attempt(self, subject: str, now: datetime) -> int:
        """`check`, then count this attempt as a failure until `success` says otherwise; return
        its number for `failure`. Beyond the lock count it is refused outright: the earlier
        attempts, finished or still being verified, have used the whole budget."""
        await self.check(subject, now)
        fails_key = self._keys(subject)[0]
        number = await self._incr(fails_key, FAILS_TTL, refresh=True)
        if number > self.max_failures:
            raise AccountLocked(retry_after=3600)
        return number

    async def uncount(self, subject: str) -> None:
        """Take back the attempt `attempt` counted when no verdict could be reached (the
        database was unavailable): the caller learnt nothing, so it was no guess, and a
        customer retrying through an outage must not lock themself out."""
        key = self._keys(subject)[0]
        redis = self._live_redis()
        if redis is not None:
            try:
                await redis.eval(_UNCOUNT, 1, key)
                return
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        item = self._mem.get(key)
        if item is not None and item[0] > 0:
            self._mem[key] = (item[0] - 1, item[1])

    async def failure(self, subject: str, now: datetime, number: int | None = None) -> bool:
        """Record a miss (already counted by `attempt` when `number` is given); return True
        when this miss locked the subject."""
        fails_key, next_key, lock_key = self._keys(subject)
        fails = (
            number if number is not None else await self._incr(fails_key, FAILS_TTL, refresh=True)
        )
        delay = failure_delay(fails, delay_after=self.delay_after, max_failures=self.max_failures)
        if delay is None:
            await self._set(lock_key, 1, None)
            return True
        if delay:
            await self._set(next_key, now.timestamp() + delay, delay + 3600)
        return False

    async def code_sent(self, phone: str, now: datetime) -> None:
        """Allow one more one-time code to `phone` (1 a minute, 5 an hour) or raise Throttled."""
        at = now.timestamp()
        verdict: str | None = None
        redis = self._live_redis()
        if redis is not None:
            key = f"{self.prefix}:otp:sent:{phone}"
            args = (at, f"{at}", CODE_INTERVAL, CODES_PER_HOUR)
            try:
                raw, wait_raw = await redis.eval(_SEND_CODE, 1, key, *args)
                verdict = raw.decode() if isinstance(raw, bytes) else raw
                wait = float(wait_raw)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        if verdict is None:
            verdict, wait = self._code_sent_mem(phone, at)
        if verdict == "minute":
            raise Throttled("one code per minute", max(1, math.ceil(wait)))
        if verdict == "hour":
            raise Throttled(f"{CODES_PER_HOUR} codes per hour", max(1, math.ceil(wait)))

    def _code_sent_mem(self, phone: str, at: float) -> tuple[str, float]:
        sent = [t for t in self._sent.get(phone, []) if t > at - 3600]
        if sent and at - sent[-1] < CODE_INTERVAL:
            return "minute", CODE_INTERVAL - (at - sent[-1])
        if len(sent) >= CODES_PER_HOUR:
            return "hour", sent[0] + 3600 - at
        if phone not in self._sent and len(self._mem) + len(self._sent) >= MEMORY_KEYS:
            self._sweep_mem()
        self._sent[phone] = [*sent, at]
        return "ok", 0.0

    async def success(self, subject: str) -> None:
        fails_key, next_key, _ = self._keys(subject)
        await self._delete(fails_key, next_key)

    async def unlock(self, subject: str) -> None:
        await self._delete(*self._keys(subject))

    async def is_locked(self, subject: str) -> bool:
        (locked,) = await self._get_many(self._keys(subject)[2])
        return bool(locked)
