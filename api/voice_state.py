"""Where a call is in the IVR between two webhooks: Redis with a TTL, so whichever API process
the provider's next request reaches takes the next step; this process's memory without Redis
(the embedded demo, one process).

The same fallback as the credential throttle (auth/throttle.py): when Redis does not answer,
the state is kept in memory and Redis is tried again a second later, so a Redis restart does
not drop the calls this process is serving (a step that lands on another process meanwhile
finds no state and starts that caller's menu over: nothing is lost but a few seconds). Unlike
the throttle, the memory store may forget: full, it drops the entries closest to expiry, and
a call that loses its state hears the menu again, which is safer than refusing every call.

The state never holds a digit of a PIN (api/voice_flow.py keeps only "pin:ok"/"pin:wrong").
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import structlog

from core.runtime import Runtime

log = structlog.get_logger("hotline.voice")

MEMORY_CALLS = 50_000
REDIS_RETRY_SECONDS = 1.0
# What an unreachable Redis raises; any other Redis error is a bug and stays a 500.
try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    REDIS_DOWN: tuple[type[BaseException], ...] = (
        RedisConnectionError,
        RedisTimeoutError,
        ConnectionError,
        TimeoutError,
    )
except ImportError:  # pragma: no cover - redis is a dependency
    REDIS_DOWN = (ConnectionError, TimeoutError)


@dataclass
class CallState:
    """One call's IVR state. `language` is zh|en or "" until chosen; `customer_id` is the
    account of the calling number (known before any PIN); `verified_id` the customer whose
    PIN was typed right in this call."""

    language: str = ""
    customer_id: str | None = None
    verified_id: str | None = None
    verification_id: str | None = None
    path: list[str] = field(default_factory=list)
    pin_misses: int = 0
    pending: str = ""  # the menu choice waiting for the PIN
    pay_order_id: str | None = None  # the order offered under 2, waiting for "1 to pay"
    silences: int = 0  # Gathers in a row that timed out


class CallStates:
    def __init__(self, redis: Any, prefix: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:voice:call:"
        self.ttl = ttl_seconds
        self._mem: dict[str, tuple[bytes, float]] = {}
        self._redis_down_until = 0.0

    @classmethod
    def build(cls, runtime: Runtime) -> CallStates:
        s = runtime.settings
        return cls(runtime.redis, s.redis_prefix, s.voice_state_ttl_seconds)

    def _live_redis(self) -> Any:
        if self.redis is None or time.monotonic() < self._redis_down_until:
            return None
        return self.redis

    def _redis_failed(self, exc: BaseException) -> None:
        self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        log.warning("redis unreachable, call state in process memory", error=repr(exc))

    async def load(self, call_sid: str) -> CallState | None:
        key = self.prefix + call_sid
        raw: bytes | None = None
        redis = self._live_redis()
        if redis is not None:
            try:
                raw = await redis.get(key)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        if raw is None:
            item = self._mem.get(key)
            if item is not None and item[1] >= time.monotonic():
                raw = item[0]
        if raw is None:
            return None
        return CallState(**msgspec.json.decode(raw))

    async def save(self, call_sid: str, state: CallState) -> None:
        key = self.prefix + call_sid
        raw = msgspec.json.encode(asdict(state))
        redis = self._live_redis()
        if redis is not None:
            try:
                await redis.set(key, raw, ex=self.ttl)
                self._mem.pop(key, None)  # Redis is the truth again
                return
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        if key not in self._mem and len(self._mem) >= MEMORY_CALLS:
            self._make_room()
        self._mem[key] = (raw, time.monotonic() + self.ttl)

    async def pop(self, call_sid: str) -> CallState | None:
        """The state, removed in the same step (GETDEL: one round trip)."""
        key = self.prefix + call_sid
        item = self._mem.pop(key, None)
        raw = item[0] if item is not None and item[1] >= time.monotonic() else None
        redis = self._live_redis()
        if redis is not None:
            try:
                raw = await redis.getdel(key) or raw
            except REDIS_DOWN as exc:
                self._redis_failed(exc)
        return CallState(**msgspec.json.decode(raw)) if raw is not None else None

    async def forget(self, call_sid: str) -> None:
        key = self.prefix + call_sid
        self._mem.pop(key, None)
        redis = self._live_redis()
        if redis is not None:
            try:
                await redis.delete(key)
            except REDIS_DOWN as exc:
                self._redis_failed(exc)

    def _make_room(self) -> None:
        now = time.monotonic()
        for k in [k for k, (_, exp) in self._mem.items() if exp < now]:
            del self._mem[k]
        if len(self._mem) >= MEMORY_CALLS:  # still full: drop the tenth closest to expiry
            for k, _ in sorted(self._mem.items(), key=lambda kv: kv[1][1])[: MEMORY_CALLS // 10]:
                del self._mem[k]
