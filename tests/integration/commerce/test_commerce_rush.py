"""The ticket rush through real HTTP: two uvicorn processes, one scratch PostgreSQL database,
hundreds of concurrent orders. The canary runs the same rush against servers started with the
real hold's guard switched off (HOTLINE_TEST_UNGUARDED_HOLDS=1) and must see the oversell, so
the guarded rush passing means the guard works, not that the test cannot see a race."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.migrate import upgrade
from commerce import Offer
from core.runtime import Runtime
from core.settings import Settings
from tests.conftest import create_database, drop_database, make_test_settings
from tests.integration.commerce.helpers import available, make_offer, seats_sold, small_runtime
from tests.integration.commerce.servers import uvicorn_servers

pytestmark = pytest.mark.slow
from tests.auth_fixtures import make_customer  # noqa: E402


@pytest.fixture(scope="module")
def rush_settings() -> Iterator[Settings]:
    name, url = create_database("hotline_rush")
    upgrade(url)
    yield make_test_settings(url)
    drop_database(name)


@pytest.fixture(scope="module")
def servers(rush_settings: Settings) -> Iterator[list[str]]:
    app = "tests.integration.commerce.rush_app:create_app"
    with uvicorn_servers(rush_settings, count=2, app=app) as urls:
        yield urls


@pytest.fixture(scope="module")
async def rush_runtime(rush_settings: Settings) -> AsyncIterator[Runtime]:
    runtime = small_runtime(rush_settings, pool=4)
    yield runtime
    await runtime.close()


@pytest.fixture(scope="module")
async def buyers(rush_runtime: Runtime) -> list[Any]:
    return [await make_customer(rush_runtime) for _ in range(8)]


async def _order(
    http: httpx.AsyncClient, url: str, buyer: Any, items: list[tuple[str, int]], **headers: str
) -> httpx.Response:
    body = {"items": [{"offer_id": o, "quantity": q} for o, q in items]}
    for _ in range(30):
        r = await http.post(f"{url}/v1/orders", json=body, headers={**buyer.headers, **headers})
        if r.status_code == 409 and r.json()["type"].endswith("/busy"):
            await asyncio.sleep(float(r.headers.get("retry-after", "1")) / 10)
            continue
        return r
    return r


async def _watch_min_available(runtime: Runtime, offer_id: str, stop: asyncio.Event) -> int:
    low = 10**9
    while not stop.is_set():
        async with runtime.sessions() as session:
            value = await session.scalar(select(Offer.available).where(Offer.id == offer_id))
        low = min(low, int(value if value is not None else 10**9))
        await asyncio.sleep(0.005)
    return low


async def _rush(
    urls: list[str], runtime: Runtime, buyers: list[Any], offer_id: str
) -> tuple[list[httpx.Response], int]:
    """240 concurrent one-seat orders spread over the servers; (responses, lowest available)."""
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch_min_available(runtime, offer_id, stop))
    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        rs = await asyncio.gather(
            *[
                _order(http, urls[i % len(urls)], buyers[i % len(buyers)], [(offer_id, 1)])
                for i in range(240)
            ]
        )
    stop.set()
    return list(rs), await watcher


async def test_rush_of_240_orders_on_50_seats_sells_exactly_50(
    servers: list[str], rush_runtime: Runtime, buyers: list[Any]
) -> None:
    offer = await make_offer(rush_runtime, capacity=50)
    rs, lowest = await _rush(servers, rush_runtime, buyers, offer.id)
    codes = [r.status_code for r in rs]
    assert codes.count(201) == 50, {c: codes.count(c) for c in set(codes)}
    assert all(r.json()["type"].endswith("/sold-out") for r in rs if r.status_code == 409)
    assert set(codes) == {201, 409}
    assert await available(rush_runtime, offer.id) == 0
    assert await seats_sold(rush_runtime, offer.id) == 50
    assert lowest >= 0
    numbers = [r.json()["number"] for r in rs if r.status_code == 201]
    assert len(set(numbers)) == 50


async def test_opposite_order_multi_offer_rush_neither_deadlocks_nor_oversells(
    servers: list[str], rush_runtime: Runtime, buyers: list[Any]
) -> None:
    a = await make_offer(rush_runtime, capacity=30)
    b = await make_offer(rush_runtime, capacity=30)
    async with httpx.AsyncClient(timeout=60) as http:
        rs = await asyncio.gather(
            *[
                _order(
                    http,
                    servers[i % 2],
                    buyers[i % len(buyers)],
                    [(a.id, 1), (b.id, 1)] if i % 2 else [(b.id, 1), (a.id, 1)],
                )
                for i in range(120)
            ]
        )
    codes = [r.status_code for r in rs]
    assert codes.count(201) == 30 and set(codes) == {201, 409}
    assert await available(rush_runtime, a.id) == 0 == await available(rush_runtime, b.id)
    assert await seats_sold(rush_runtime, a.id) == 30 == await seats_sold(rush_runtime, b.id)


async def test_duplicate_key_across_two_servers_makes_one_order(
    servers: list[str], rush_runtime: Runtime, buyers: list[Any]
) -> None:
    offer = await make_offer(rush_runtime, capacity=40)
    key = uuid.uuid4().hex
    async with httpx.AsyncClient(timeout=60) as http:
        rs = await asyncio.gather(
            *[
                _order(http, servers[i % 2], buyers[0], [(offer.id, 2)], **{"Idempotency-Key": key})
                for i in range(30)
            ]
        )
    created = {r.json()["id"] for r in rs if r.status_code == 201}
    assert len(created) == 1, [(r.status_code, r.text[:200]) for r in rs][:5]
    assert all(
        r.json()["type"].endswith("/idempotency-in-progress") for r in rs if r.status_code == 409
    )
    assert await available(rush_runtime, offer.id) == 38


@pytest.fixture
def unguarded_servers(rush_settings: Settings) -> Iterator[list[str]]:
    app = "tests.integration.commerce.rush_app:create_app"
    env = {"HOTLINE_TEST_UNGUARDED_HOLDS": "1"}
    with uvicorn_servers(rush_settings, count=2, app=app, extra_env=env) as urls:
        yield urls


async def test_canary_the_same_rush_oversells_with_the_guard_switched_off(
    unguarded_servers: list[str], rush_runtime: Runtime, buyers: list[Any]
) -> None:
    """Same servers, same rush, the real hold path with its condition off: it must oversell,
    or the guarded rush above proves nothing."""
    offer = await make_offer(rush_runtime, capacity=50)
    rs, _ = await _rush(unguarded_servers, rush_runtime, buyers, offer.id)
    sold = [r.status_code for r in rs].count(201)
    assert sold > 50, f"the unguarded hold sold {sold} of 50 seats: the rush cannot see a race"
    assert await seats_sold(rush_runtime, offer.id) > 50 - await available(rush_runtime, offer.id)
