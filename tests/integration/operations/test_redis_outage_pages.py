"""Redis down under the pages (web sessions live there): signing in and every signed-in page
answer a readable 503 page in the page's language, never a 500; a sign-in refused for it
did nothing (no audit row, no session); browsing the shop goes on as a stranger."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

import core.runtime
from api.app import create_app
from auth.models import AuditEvent
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions, make_agent, make_customer
from tests.conftest import make_test_settings
from tests.integration.operations.servers import PrivateRedis
from web.sessions import COOKIE

Client = AsyncTestClient[Any]


@pytest.fixture
def private_redis() -> Any:
    server = PrivateRedis().start()
    yield server
    server.kill()


@pytest.fixture
async def pages(
    pg_url: str, private_redis: PrivateRedis, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Runtime, Client]]:
    # a write held up by CLIENT PAUSE times out in a fraction of the usual 2 s
    monkeypatch.setattr(core.runtime, "REDIS_TIMEOUT_SECONDS", 0.3)
    app = create_app(make_test_settings(pg_url, redis_url=private_redis.url))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.follow_redirects = False
        yield app.state.runtime, client


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _console_sign_in(c: Client, agent: TestAgent) -> Any:
    form = await c.get("/console/sign-in")
    assert form.status_code == 200
    data = {"_csrf": _csrf(form.text), "username": agent.username, "password": agent.password}
    return await c.post("/console/sign-in", data=data)


async def _shop_sign_in(c: Client, customer: TestCustomer, **headers: str) -> Any:
    form = await c.get("/shop/sign-in", headers=headers)
    assert form.status_code == 200
    data = {"_csrf": _csrf(form.text), "phone": customer.phone, "pin": customer.pin}
    return await c.post("/shop/sign-in", data=data, headers=headers)


async def _audit_rows(runtime: Runtime) -> int:
    async with fixture_sessions(runtime)() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _unavailable(r: Any, words: str) -> None:
    assert r.status_code == 503, r.text[:300]
    assert r.headers["content-type"].startswith("text/html")
    assert int(r.headers["retry-after"]) > 0
    assert words in r.text, r.text[:600]
    assert COOKIE not in r.headers.get("set-cookie", "")  # no session was made


async def test_sign_in_with_redis_down_is_a_readable_503_that_did_nothing(
    pages: tuple[Runtime, Client], private_redis: PrivateRedis
) -> None:
    runtime, client = pages
    agent, customer = await make_agent(runtime), await make_customer(runtime)
    private_redis.kill()
    before = await _audit_rows(runtime)
    _unavailable(await _console_sign_in(client, agent), "登录暂时不可用")
    client.cookies.clear()
    english = {"accept-language": "en"}
    _unavailable(await _shop_sign_in(client, customer, **english), "Sign-in is unavailable")
    assert await _audit_rows(runtime) == before  # refused before the login was processed


async def test_signed_in_pages_answer_503_and_the_shop_still_browses(
    pages: tuple[Runtime, Client], private_redis: PrivateRedis
) -> None:
    runtime, client = pages
    agent, customer = await make_agent(runtime), await make_customer(runtime)
    assert (await _console_sign_in(client, agent)).status_code == 303
    console = dict(client.cookies)
    client.cookies.clear()
    assert (await _shop_sign_in(client, customer)).status_code == 303
    shop = dict(client.cookies)

    private_redis.kill()
    client.cookies.clear()
    client.cookies.update(console)
    for path in ("/console/", "/console/tickets", "/console/live"):
        _unavailable(await client.get(path), "登录暂时不可用")
    _unavailable(await client.post("/console/sign-out", data={}), "登录暂时不可用")
    form = await client.get("/console/sign-in")  # public: shown, its POST is refused
    assert form.status_code == 200 and COOKIE not in form.headers.get("set-cookie", "")
    client.cookies.clear()
    client.cookies.update(shop)
    _unavailable(await client.get("/shop/orders"), "登录暂时不可用")
    _unavailable(await client.post("/shop/sign-out", data={}), "登录暂时不可用")
    browse = await client.get("/shop/")  # public: a stranger's page, nothing written back
    assert browse.status_code == 200 and "set-cookie" not in browse.headers


async def test_a_session_lost_on_its_way_to_redis_is_a_503_not_a_crash(
    pages: tuple[Runtime, Client], private_redis: PrivateRedis
) -> None:
    """Redis answers reads but not writes (paused): the login passes, then its session cannot
    be stored after the handler returned. The answer is still the readable page."""
    runtime, client = pages
    agent = await make_agent(runtime)
    admin = redis.Redis.from_url(private_redis.url)
    try:
        admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE")
        _unavailable(await _console_sign_in(client, agent), "登录暂时不可用")
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
