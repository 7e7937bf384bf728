"""Customers, agents and their tokens for every room's tests (the auth room owns this)."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

import auth
from core.db import make_engine
from core.runtime import Runtime

# China Mobile / Unicom / Telecom prefixes that phonenumbers accepts as valid mobiles.
_CN_PREFIXES = (
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "157",
    "158",
    "159",
    "182",
    "183",
    "187",
    "188",
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "186",
    "133",
    "153",
    "180",
    "181",
    "189",
    "177",
    "199",
)
TEST_PASSWORD = "correct horse battery staple"


_SESSIONS: dict[str, async_sessionmaker[AsyncSession]] = {}


def fixture_sessions(runtime: Runtime) -> async_sessionmaker[AsyncSession]:
    """Sessions on unpooled connections: safe from any event loop. The app under
    AsyncTestClient serves on another loop than the test, so a connection pooled by the test
    loop must never reach the app's pool (asyncpg 'attached to a different loop')."""
    url = runtime.settings.database_url
    found = _SESSIONS.get(url)
    if found is None:
        engine = (
            create_async_engine(url, poolclass=NullPool)
            if url.startswith("postgresql")
            else make_engine(url)
        )
        found = async_sessionmaker(engine, expire_on_commit=False)
        _SESSIONS[url] = found
    return found


def random_cn_mobile() -> str:
    return "+86" + random.choice(_CN_PREFIXES) + f"{random.randrange(10**8):08d}"


@dataclass
class TestCustomer:
    __test__ = False
    id: str
    phone: str
    pin: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class TestAgent:
    __test__ = False
    id: str
    username: str
    password: str
    token: str
    roles: tuple[str, ...] = ("agent",)
    headers: dict[str, str] = field(default_factory=dict)


async def make_customer(
    runtime: Runtime, *, pin: str = "274915", locale: str = "zh", name: str | None = None
) -> TestCustomer:
    """A fresh customer with a unique CN mobile, the PIN set and a token issued (no HTTP)."""
    async with fixture_sessions(runtime)() as session, session.begin():
        for _ in range(20):
            phone = random_cn_mobile()
            if await auth.find_customer_by_phone(session, phone) is None:
                break
        customer = await auth.create_customer(
            runtime,
            session,
            phone=phone,
            name=name or f"Test {phone[-4:]}",
            locale=locale,
            pin=pin,
        )
    token, _ = auth.customer_token(runtime, customer)
    return TestCustomer(
        customer.id, customer.phone, pin, token, {"Authorization": f"Bearer {token}"}
    )


async def make_agent(runtime: Runtime, *roles: str) -> TestAgent:
    """A fresh active agent (default role `agent`) with a token issued (no HTTP)."""
    roles = roles or ("agent",)
    username = f"{roles[0]}-{secrets.token_hex(5)}"
    async with fixture_sessions(runtime)() as session, session.begin():
        agent = await auth.create_agent(
            runtime, session, username=username, password=TEST_PASSWORD, roles=roles
        )
    token, _ = auth.agent_token(runtime, agent)
    return TestAgent(
        agent.id, username, TEST_PASSWORD, token, tuple(roles), {"Authorization": f"Bearer {token}"}
    )


async def verify_caller(client: Any, agent: TestAgent, customer: TestCustomer) -> str:
    """A caller verification through the real route; returns its verification_id."""
    resp = await client.post(
        "/v1/callers/verify",
        json={"phone": customer.phone, "pin": customer.pin},
        headers=agent.headers,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["verification_id"])


@pytest.fixture
async def customer(runtime: Runtime) -> TestCustomer:
    return await make_customer(runtime)


@pytest.fixture
async def other_customer(runtime: Runtime) -> TestCustomer:
    return await make_customer(runtime)


@pytest.fixture
async def agent(runtime: Runtime) -> TestAgent:
    return await make_agent(runtime)


@pytest.fixture
async def supervisor(runtime: Runtime) -> TestAgent:
    return await make_agent(runtime, "supervisor")


@pytest.fixture
async def finance(runtime: Runtime) -> TestAgent:
    return await make_agent(runtime, "finance")


@pytest.fixture
async def admin(runtime: Runtime) -> TestAgent:
    return await make_agent(runtime, "admin")
