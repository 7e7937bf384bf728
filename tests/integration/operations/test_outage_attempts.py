"""An attempt that met an unavailable database reached no verdict: it is taken back, so a
customer or agent retrying through a PostgreSQL restart is never delayed or locked by it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from auth import agents, service
from core.runtime import Runtime
from tests.auth_fixtures import fixture_sessions, make_agent, make_customer
from tests.conftest import make_test_settings


class DeadSession:
    """A session whose connection the server has just closed (pure stand-in)."""

    async def scalar(self, *_: Any, **__: Any) -> Any:
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")


@pytest.fixture
async def own_runtime(pg_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(make_test_settings(pg_url))  # Redis client on this test's loop
    yield runtime
    await runtime.close()


async def test_database_outage_attempts_do_not_count(own_runtime: Runtime) -> None:
    runtime = own_runtime
    customer = await make_customer(runtime)
    agent = await make_agent(runtime)
    dead: Any = DeadSession()
    gate = service.build_throttle(runtime)
    for _ in range(runtime.settings.pin_max_failures + 2):
        with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
            await service.login_customer(
                runtime, dead, customer.phone, customer.pin, gate=gate, address="10.0.0.9"
            )
        with pytest.raises(asyncpg.exceptions.ConnectionDoesNotExistError):
            await agents.login_agent(
                runtime, dead, agent.username, agent.password, gate=gate, address="10.0.0.9"
            )
    fails = [gate._keys(customer.phone)[0], gate._keys(f"agent:{agent.username}")[0]]
    assert await gate._get_many(*fails) in ([0.0, 0.0], [None, None])
    async with fixture_sessions(runtime)() as session, session.begin():
        await service.login_customer(
            runtime, session, customer.phone, customer.pin, gate=gate, address="10.0.0.9"
        )
        await agents.login_agent(
            runtime, session, agent.username, agent.password, gate=gate, address="10.0.0.9"
        )
