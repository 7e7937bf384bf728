"""Shared fixtures: a fresh PostgreSQL database per run (migrated by Alembic), Redis with
a per-run key prefix, and an in-process app client. Room-specific fixtures live beside
their tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.migrate import upgrade
from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings, load_settings

pytest_plugins = ["tests.auth_fixtures", "tests.stripe_fixtures"]

PG_ADMIN = os.environ.get("HOTLINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def create_database(prefix: str = "hotline_t") -> tuple[str, str]:
    """Create an empty database; return (name, asyncpg URL)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name, url = create_database()
    upgrade(url)
    yield url
    drop_database(name)


def make_test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": REDIS_URL,
        "redis_prefix": f"t{uuid.uuid4().hex[:8]}",
        "secret_key": uuid.uuid4().hex + uuid.uuid4().hex,
        "public_base_url": "http://testserver.local",
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@pytest.fixture(scope="session")
def settings(pg_url: str) -> Settings:
    return make_test_settings(pg_url)


@pytest.fixture(scope="session")
def clock() -> TravelClock:
    return TravelClock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: TravelClock) -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture(scope="session")
def app(settings: Settings, clock: TravelClock) -> Litestar:
    return create_app(settings, clock=clock)


@pytest.fixture(scope="session")
def runtime(app: Litestar) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c
