"""Redis down or restarting: customer login, agent login and caller verification keep
working on the in-process fallback (never 500), the PIN lock still holds (on the customer row),
and once Redis is back the counters are in Redis again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from structlog.testing import capture_logs

from api import startup_report
from api.app import create_app
from auth.models import Customer
from auth.throttle import REDIS_RETRY_SECONDS
from core.clock import TravelClock
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions, make_agent, make_customer
from tests.conftest import REDIS_URL, make_test_settings
from tests.integration.operations.servers import PrivateRedis, free_port


@pytest.fixture
def private_redis() -> Any:
    server = PrivateRedis().start()
    yield server
    server.kill()


@pytest.fixture
async def outage_app(pg_url: str, private_redis: PrivateRedis) -> AsyncIterator[Any]:
    clock = TravelClock()
    app = create_app(make_test_settings(pg_url, redis_url=private_redis.url), clock=clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield app, client, clock


async def _three_doors(client: Any, customer: TestCustomer, agent: TestAgent) -> list[int]:
    """Customer login, agent login and caller verification: the status of each."""
    login = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": customer.pin})
    agent_login = await client.post(
        "/v1/auth/agent-token", json={"username": agent.username, "password": agent.password}
    )
    verify = await client.post(
        "/v1/callers/verify",
        json={"phone": customer.phone, "pin": customer.pin},
        headers=agent.headers,
    )
    return [login.status_code, agent_login.status_code, verify.status_code]


async def _keys(url: str, pattern: str) -> list[bytes]:
    r = aioredis.from_url(url)
    try:
        return [k async for k in r.scan_iter(match=pattern)]
    finally:
        await r.aclose()


async def test_logins_and_verification_survive_redis_down_and_restart(
    outage_app: Any, private_redis: PrivateRedis
) -> None:
    app, client, _ = outage_app
    runtime: Runtime = app.state.runtime
    customer = await make_customer(runtime)
    agent = await make_agent(runtime)
    assert await _three_doors(client, customer, agent) == [200, 200, 201]

    private_redis.kill()
    for _ in range(3):  # the first call meets the dead connection, the next ones the breaker
        assert await _three_doors(client, customer, agent) == [200, 200, 201]
    wrong = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": "000001"})
    assert wrong.status_code == 401  # still checked, still counted (in memory)

    private_redis.start()  # same port, empty: a restart that lost everything
    await asyncio.sleep(REDIS_RETRY_SECONDS + 0.2)
    assert await _three_doors(client, customer, agent) == [200, 200, 201]
    wrong = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": "000001"})
    assert wrong.status_code == 401
    prefix = runtime.settings.redis_prefix
    assert await _keys(private_redis.url, f"{prefix}:auth:{customer.phone}:*")  # counted there


async def test_lock_still_holds_while_redis_is_down(
    outage_app: Any, private_redis: PrivateRedis
) -> None:
    """Taking Redis down opens no door: misses are counted in memory, the lock lands on the
    customer row, and the right PIN is then refused here and after Redis returns."""
    app, client, clock = outage_app
    runtime: Runtime = app.state.runtime
    customer = await make_customer(runtime)
    private_redis.kill()
    statuses = []
    for _ in range(100):
        r = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": "000001"})
        statuses.append(r.status_code)
        assert r.status_code in (401, 429), r.text
        if r.status_code == 429:
            if r.json()["type"].endswith("/locked"):
                break
            clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
    assert statuses.count(401) == runtime.settings.pin_max_failures
    right = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": customer.pin})
    assert right.status_code == 429 and right.json()["type"].endswith("/locked")
    async with fixture_sessions(runtime)() as session:
        row = await session.scalar(select(Customer).where(Customer.id == customer.id))
        assert row is not None and row.locked

    private_redis.start()  # back and empty: the row still says locked
    await asyncio.sleep(REDIS_RETRY_SECONDS + 0.2)
    right = await client.post("/v1/auth/token", json={"phone": customer.phone, "pin": customer.pin})
    assert right.status_code == 429 and right.json()["type"].endswith("/locked")


async def test_ready_is_problem_json_naming_redis_while_it_is_down(
    outage_app: Any, private_redis: PrivateRedis
) -> None:
    _app, client, _ = outage_app
    up = await client.get("/ready")
    assert up.status_code == 200
    assert up.json() == {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}

    private_redis.kill()
    down = await client.get("/ready")
    assert down.status_code == 503
    assert down.headers["content-type"].startswith("application/problem+json")
    assert int(down.headers["retry-after"]) > 0
    body = down.json()
    assert body["type"].endswith("/unavailable") and body["status"] == 503
    assert body["unavailable"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_start_up_warns_that_the_configured_redis_does_not_answer(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app(make_test_settings(pg_url, redis_url=closed))
    with capture_logs() as logs:
        # the module's logger may be cached under the app's config: one the capture sees
        monkeypatch.setattr(startup_report, "log", structlog.get_logger("hotline.test"))
        started = time.monotonic()
        async with AsyncTestClient(app=app):
            took = time.monotonic() - started
    lines = [e for e in logs if e["event"].startswith("redis:")]
    assert len(lines) == 1 and lines[0]["log_level"] == "warning", lines
    said = lines[0]["event"]
    assert "UNREACHABLE" in said and "ConnectionError" in said and "503" in said, said
    assert took < startup_report.PROBE_SECONDS + 2  # a short probe, and start-up went on

    reachable = make_test_settings(pg_url, redis_url=REDIS_URL)
    assert await startup_report.redis_problem(reachable) is None
