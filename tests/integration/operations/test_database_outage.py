"""A PostgreSQL connection closed under the app (a restart, a failover, pg_terminate_backend):
the request caught in it gets 503 problem+json `unavailable` with Retry-After, never 500, and
the next request succeeds. Runs on a database of its own, so terminating every connection to it
touches no other test's pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.migrate import upgrade
from core.drivers import DriverPool, connection_lost
from core.runtime import Runtime
from tests.auth_fixtures import make_customer
from tests.conftest import PG_ADMIN, create_database, drop_database, make_test_settings


@pytest.fixture(scope="module")
def own_db() -> Iterator[tuple[str, str]]:
    name, url = create_database("hotline_outage")
    upgrade(url)
    yield name, url
    drop_database(name)


@pytest.fixture
async def db_app(own_db: tuple[str, str]) -> AsyncIterator[Any]:
    app = create_app(make_test_settings(own_db[1]))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield app, client


def terminate_connections(database: str) -> int:
    """What a PostgreSQL restart does to the app's pooled connections."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(row[0]) if row else 0


def unavailable_or_ok(r: Any, ok: int) -> None:
    if r.status_code == ok:
        return
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/problems/unavailable")
    assert int(r.headers["Retry-After"]) >= 1


async def test_closed_connections_answer_503_then_service_resumes(
    db_app: Any, own_db: tuple[str, str]
) -> None:
    app, client = db_app
    runtime: Runtime = app.state.runtime
    customer = await make_customer(runtime)
    login = {"phone": customer.phone, "pin": customer.pin}
    # warm both pools: SQLAlchemy's (the login's session) and asyncpg's (the token check)
    assert (await client.post("/v1/auth/token", json=login)).status_code == 200
    assert (await client.get("/v1/me", headers=customer.headers)).status_code == 200

    assert terminate_connections(own_db[0]) >= 2
    # the token check is a read: retried once on a fresh connection, so it never notices
    assert (await client.get("/v1/me", headers=customer.headers)).status_code == 200
    # a login writes (audit row): not retried, 503 when it met the dead connection
    unavailable_or_ok(await client.post("/v1/auth/token", json=login), 200)
    assert (await client.post("/v1/auth/token", json=login)).status_code == 200
    assert (await client.get("/v1/me", headers=customer.headers)).status_code == 200


async def test_connection_closed_under_a_write_answers_503(
    db_app: Any, own_db: tuple[str, str]
) -> None:
    """The session's pooled connection is dropped between two requests: the next one that
    uses it is told to retry, with Retry-After, and the one after succeeds."""
    app, client = db_app
    runtime: Runtime = app.state.runtime
    customer = await make_customer(runtime)
    login = {"phone": customer.phone, "pin": customer.pin}
    assert (await client.post("/v1/auth/token", json=login)).status_code == 200
    terminate_connections(own_db[0])
    statuses = [(await client.post("/v1/auth/token", json=login)) for _ in range(3)]
    for r in statuses:
        unavailable_or_ok(r, 200)
    assert statuses[-1].status_code == 200


async def test_read_then_retries_a_lost_read_but_never_the_write(own_db: tuple[str, str]) -> None:
    """DriverPool.read_then (the carrier charge's order read and charge on one connection):
    a connection found dead by the read is replaced and the read runs again; one lost under
    the write that follows is not retried (whether the write ran is unknown)."""
    drivers = DriverPool(own_db[1], max_size=1)
    reads: list[int] = []
    writes: list[int] = []

    async def read(pg: Any) -> int:
        reads.append(1)
        return int(await pg.fetchval("SELECT pg_backend_pid()"))

    async def write(pg: Any, pid: int) -> int:
        writes.append(pid)
        return pid

    try:
        first = await drivers.read_then(read, write)
        terminate_connections(own_db[0])
        second = await drivers.read_then(read, write)
        assert (len(reads), len(writes)) == (3, 2)  # the second read ran twice, its write once
        assert second != first  # on a fresh connection

        async def dies(pg: Any, pid: int) -> int:
            writes.append(pid)
            await pg.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            return pid

        with pytest.raises(Exception) as lost:
            await drivers.read_then(read, dies)
        assert connection_lost(lost.value)
        assert (len(reads), len(writes)) == (4, 3)  # not retried
        assert await drivers.read_then(read, write) not in (first, second)
    finally:
        await drivers.close()
