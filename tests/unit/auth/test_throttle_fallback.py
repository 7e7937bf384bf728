"""The throttle's in-memory fallback when Redis is unreachable: counts go on, the breaker
spares a dead Redis a call per request, and the bounded store refuses rather than forgets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from auth import throttle as throttle_module
from auth.throttle import AccountLocked, CountersUnavailable, Throttle

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class DeadRedis:
    """Every command fails as a refused connection would (pure unit layer fake)."""

    def __init__(self) -> None:
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        async def fail(*_: Any, **__: Any) -> Any:
            self.calls += 1
            raise RedisConnectionError("Error 111 connecting")

        if name == "register_script":
            return lambda _source: fail
        return fail


def make(redis: Any) -> Throttle:
    return Throttle(redis, "t", delay_after=100, max_failures=3, ip_limit_per_minute=2)


async def test_counts_and_locks_in_memory_when_redis_is_down() -> None:
    gate = make(DeadRedis())
    for n in range(1, 4):
        assert await gate.attempt("+8613800000000", NOW) == n
        locked = await gate.failure("+8613800000000", NOW, n)
    assert locked
    with pytest.raises(AccountLocked):
        await gate.attempt("+8613800000000", NOW)
    await gate.hit_address("10.0.0.1", NOW)
    await gate.hit_address("10.0.0.1", NOW)
    with pytest.raises(Exception, match="too many attempts"):
        await gate.hit_address("10.0.0.1", NOW)


async def test_breaker_skips_redis_until_retry_time(monkeypatch: pytest.MonkeyPatch) -> None:
    redis = DeadRedis()
    gate = make(redis)
    clock = [1000.0]
    monkeypatch.setattr(throttle_module.time, "monotonic", lambda: clock[0])
    await gate.check("s", NOW)
    assert redis.calls == 1
    await gate.attempt("s", NOW)
    await gate.hit_address("a", NOW)
    assert redis.calls == 1  # the breaker is open: memory only
    clock[0] += throttle_module.REDIS_RETRY_SECONDS + 0.1
    await gate.check("s", NOW)
    assert redis.calls == 2  # tried again after the pause


async def test_full_memory_refuses_instead_of_forgetting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "MEMORY_KEYS", 3)
    gate = make(None)
    for subject in ("a", "b", "c"):
        await gate.attempt(subject, NOW)
    with pytest.raises(CountersUnavailable) as caught:
        await gate.attempt("d", NOW)
    assert caught.value.status == 503 and caught.value.headers["Retry-After"]
    assert await gate.attempt("a", NOW) == 2  # known subjects keep counting


async def test_uncount_takes_back_an_attempt_in_memory() -> None:
    gate = make(DeadRedis())
    assert await gate.attempt("s", NOW) == 1
    await gate.uncount("s")
    await gate.uncount("s")  # never below zero
    assert await gate.attempt("s", NOW) == 1
