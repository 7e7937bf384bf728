"""The lock survives a Redis flush (it is in the database too), parallel guesses cannot pass
the lock count, failures are kept for weeks, and the per-address limit answers 429 over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from auth import service
from auth.models import Customer
from auth.throttle import FAILS_TTL, AccountLocked
from core.clock import TravelClock
from core.errors import InvalidCredentials, Throttled
from core.runtime import Runtime
from tests.auth_fixtures import fixture_sessions, make_customer, random_cn_mobile
from tests.conftest import REDIS_URL, make_test_settings
from tests.integration.auth.test_auth_codes import latest_code


@pytest.fixture
async def own_redis() -> AsyncIterator[Any]:
    """A client on the test's own event loop (the app's client lives on the app's loop)."""
    r = aioredis.from_url(REDIS_URL)
    yield r
    await r.aclose()


async def _login(client: Any, phone: str, pin: str) -> Any:
    return await client.post("/v1/auth/token", json={"phone": phone, "pin": pin})


async def _lock(client: Any, clock: Any, phone: str) -> None:
    for _ in range(200):
        r = await _login(client, phone, "000001")
        if r.status_code == 429 and r.json()["type"].endswith("/locked"):
            return
        if r.status_code == 429:
            clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
    raise AssertionError("never locked")


async def test_lock_survives_a_redis_flush_and_reset_lifts_it(
    client, runtime, clock, own_redis
) -> None:
    c = await make_customer(runtime)
    await _lock(client, clock, c.phone)
    keys = [k async for k in own_redis.scan_iter(f"{runtime.settings.redis_prefix}:auth:*")]
    assert keys
    await own_redis.delete(*keys)  # only this run's keys: Redis is shared
    r = await _login(client, c.phone, c.pin)
    assert r.status_code == 429 and r.json()["type"].endswith("/locked")
    async with fixture_sessions(runtime)() as s:
        assert (await s.get_one(Customer, c.id)).locked is True
    assert (await client.post("/v1/auth/enrollment", json={"phone": c.phone})).status_code == 202
    code = await latest_code(runtime, c.phone)
    ok = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": c.phone, "code": code, "pin": "508317"}
    )
    assert ok.status_code == 200, ok.text
    assert (await _login(client, c.phone, "508317")).status_code == 200
    async with fixture_sessions(runtime)() as s:
        assert (await s.get_one(Customer, c.id)).locked is False


async def test_failures_are_kept_for_weeks_and_refreshed(client, runtime, own_redis) -> None:
    c = await make_customer(runtime)
    await _login(client, c.phone, "000001")
    key = f"{runtime.settings.redis_prefix}:auth:{c.phone}:fails"
    await own_redis.expire(key, 60)
    await _login(client, c.phone, "000001")
    assert int(await own_redis.get(key)) == 2
    assert await own_redis.ttl(key) > FAILS_TTL - 60  # each miss restarts the 30 days
    assert (await _login(client, c.phone, c.pin)).status_code == 200
    assert await own_redis.get(key) is None  # a success clears the run of failures


async def test_parallel_wrong_guesses_cannot_pass_the_lock_count(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = 4
    verified: list[object] = []
    real_verify = service.hashing.verify_secret_async

    async def counting_verify(*args: Any) -> bool:  # a spy: the real argon2id verify runs
        verified.append(args)
        return await real_verify(*args)

    monkeypatch.setattr(service.hashing, "verify_secret_async", counting_verify)
    settings = make_test_settings(pg_url, pin_max_failures=limit, pin_delay_after=limit)
    rt = Runtime.build(settings)
    gate = service.build_throttle(rt)  # one per process, as api.composition keeps it
    try:
        c = await make_customer(rt)

        async def guess() -> str:
            async with rt.sessions() as session:
                try:
                    await service.check_pin(
                        rt,
                        session,
                        c.phone,
                        "000001",
                        gate=gate,
                        address="10.9.9.9",
                        actor="anonymous",
                        channel="web",
                        event="login",
                    )
                except (InvalidCredentials, Throttled) as exc:
                    return exc.slug
            return "success"

        outcomes = await asyncio.gather(*(guess() for _ in range(25)))
        # At most `limit` guesses ever reach the hash. A guess counted within the limit may
        # still answer `locked` when the limit-th miss persisted the lock before it read the
        # customer row, so fewer than `limit` may answer invalid-credentials.
        assert len(verified) <= limit, outcomes
        assert 1 <= outcomes.count("invalid-credentials") <= limit, outcomes
        assert set(outcomes) == {"invalid-credentials", "locked"}
        with pytest.raises(AccountLocked):  # even the right PIN now
            async with rt.sessions() as session:
                await service.check_pin(
                    rt,
                    session,
                    c.phone,
                    c.pin,
                    gate=gate,
                    address="x",
                    actor="a",
                    channel="web",
                    event="l",
                )
        async with fixture_sessions(rt)() as s:
            assert (await s.get_one(Customer, c.id)).locked is True
    finally:
        await rt.close()


async def test_per_address_limit_over_http(pg_url: str) -> None:
    clock = TravelClock()
    app: Litestar = create_app(make_test_settings(pg_url, ip_limit_per_minute=3), clock=clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        phones = [random_cn_mobile() for _ in range(4)]
        for phone in phones[:3]:
            assert (await _login(client, phone, "274915")).status_code == 401
        r = await _login(client, phones[3], "274915")  # a fresh number, the same address
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.json()["type"].endswith("/throttled")
        sent = await client.post("/v1/auth/enrollment", json={"phone": phones[3]})
        assert sent.status_code == 429  # every credential route shares the address budget
        clock.advance(seconds=61)
        assert (await _login(client, phones[3], "274915")).status_code == 401
