"""Who may open the console and how: sign-in through auth's throttle and audit, a
server-side session, CSRF on every write, roles per page, idle timeout, and never a
customer (token or session). In-process against PostgreSQL and Redis; no browser."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio
from litestar import Litestar
from litestar.stores.redis import RedisStore
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

import auth
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions
from web.sessions import COOKIE, session_store

Client = AsyncTestClient[Litestar]
MANIFEST = Path(__file__).resolve().parents[3] / "api" / "static" / "vendor" / "MANIFEST.json"


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[RedisStore]:
    """The console's session store, on a Redis client of this test's own loop."""
    client = redis.asyncio.from_url(settings.redis_url)
    yield session_store(settings, client)  # type: ignore[misc]
    await client.aclose()


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _sign_in(c: Client, who: TestAgent) -> str:
    form = await c.get("/console/sign-in")
    r = await c.post(
        "/console/sign-in",
        data={"_csrf": _csrf(form.text), "username": who.username, "password": who.password},
    )
    assert r.status_code == 303, r.text[:300]
    desk = await c.get("/console/")
    assert desk.status_code == 200
    return _csrf(desk.text)


async def test_sign_in_makes_a_server_side_session_with_a_safe_cookie(
    browser: Client, agent: TestAgent
) -> None:
    form = await browser.get("/console/sign-in")
    assert COOKIE not in form.headers.get("set-cookie", "")  # strangers get no session
    r = await browser.post(
        "/console/sign-in",
        data={"_csrf": _csrf(form.text), "username": agent.username, "password": agent.password},
    )
    cookie = r.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert agent.token not in cookie  # an opaque id, not a token
    assert "Wang" not in cookie
    desk = await browser.get("/console/")
    assert desk.status_code == 200 and "text/html" in desk.headers["content-type"]


async def test_a_wrong_password_is_audited_and_counted_like_the_token_login(
    browser: Client, agent: TestAgent, runtime: Runtime
) -> None:
    form = await browser.get("/console/sign-in")
    r = await browser.post(
        "/console/sign-in",
        data={"_csrf": _csrf(form.text), "username": agent.username, "password": "not-it-at-all"},
    )
    assert r.status_code == 401 and "signin-error" in r.text
    async with fixture_sessions(runtime)() as s:
        failures = await s.scalar(
            select(func.count())
            .select_from(auth.AuditEvent)
            .where(
                auth.AuditEvent.event == "agent_login",
                auth.AuditEvent.subject == f"agent:{agent.username}",
                auth.AuditEvent.outcome == "failure",
            )
        )
    assert failures == 1


async def test_a_post_without_the_pages_csrf_token_is_refused(
    browser: Client, agent: TestAgent
) -> None:
    form = await browser.get("/console/sign-in")
    no_token = await browser.post(
        "/console/sign-in", data={"username": agent.username, "password": agent.password}
    )
    assert no_token.status_code == 403 and "text/html" in no_token.headers["content-type"]
    token = await _sign_in(browser, agent)
    phone = "+8613700137001"
    refused = await browser.post("/console/customers", data={"phone": phone, "name": "X"})
    assert refused.status_code == 403 and 'data-problem="csrf"' not in refused.text
    assert "stale" in refused.text or "过期" in refused.text
    htmx = await browser.post(
        "/console/customers",
        data={"phone": phone, "name": "X"},
        headers={"HX-Request": "true", "X-CSRF-Token": "forged"},
    )
    assert htmx.status_code == 403 and 'data-problem="csrf"' in htmx.text
    ok = await browser.post(
        "/console/customers", data={"phone": phone, "name": "X"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 303, ok.text[:300]
    assert form.status_code == 200


async def test_a_sign_in_sent_as_multipart_is_a_415_page(browser: Client, agent: TestAgent) -> None:
    form = await browser.get("/console/sign-in")
    fields = {"_csrf": _csrf(form.text), "username": agent.username, "password": agent.password}
    r = await browser.post("/console/sign-in", files={k: (None, v) for k, v in fields.items()})
    assert r.status_code == 415 and "text/html" in r.headers["content-type"], r.text
    assert "application/x-www-form-urlencoded" in r.text
    assert (await browser.get("/console/")).status_code == 303  # not signed in


async def test_the_new_customer_form_heads_its_error_by_the_field_at_fault(
    browser: Client, agent: TestAgent
) -> None:
    token = await _sign_in(browser, agent)
    headers = {"X-CSRF-Token": token, "Accept-Language": "zh-CN"}
    cases = [
        ({"name": "王\x1b[31m伟", "locale": "zh"}, "姓名", "不能包含控制字符"),
        ({"name": "王伟", "locale": "fr"}, "语言", "请选择中文或英文"),
    ]
    for extra, label, message in cases:
        data = {"phone": "+8613700137002", **extra}
        r = await browser.post("/console/customers", data=data, headers=headers)
        assert r.status_code == 422, r.text[:300]
        error = re.search(r'<p class="error"[^>]*>(.*?)</p>', r.text, re.S)
        assert error, r.text[:500]
        assert "号码" not in error.group(1), error.group(1)  # not "this number can't be used"
        assert "表单中有内容不正确" in error.group(1)
        assert label in error.group(1) and message in error.group(1), error.group(1)
    r = await browser.post(
        "/console/customers", data={"phone": "12", "name": "王伟"}, headers=headers
    )
    assert r.status_code == 422 and "这个号码无法使用" in r.text


async def test_a_customer_token_or_session_never_opens_a_console_page(
    browser: Client, customer: TestCustomer, store: RedisStore
) -> None:
    with_token = await browser.get("/console/", headers=customer.headers)
    assert with_token.status_code == 303
    assert with_token.headers["location"].startswith("/console/sign-in")
    # a customer's web session (the shop's, later) in the same store is not an agent's
    sid = "c" * 64
    await store.set(
        sid,
        msgspec.json.encode(
            {"kind": "customer", "customer_id": customer.id, "agent_id": customer.id}
        ),
        expires_in=600,
    )
    browser.cookies.set(COOKIE, sid)
    with_session = await browser.get("/console/customers/" + customer.id)
    assert with_session.status_code == 303
    assert with_session.headers["location"].startswith("/console/sign-in")


async def test_roles_are_checked_on_the_server_and_idle_sessions_end(
    browser: Client, agent: TestAgent, store: RedisStore
) -> None:
    await _sign_in(browser, agent)
    board = await browser.get("/console/wallboard")
    assert board.status_code == 403 and "text/html" in board.headers["content-type"]
    # the session goes quiet for longer than IDLE_MINUTES
    sid = browser.cookies.get(COOKIE)
    assert sid
    data = msgspec.json.decode(await store.get(sid) or b"{}")
    data["seen"] = time.time() - 31 * 60
    await store.set(sid, msgspec.json.encode(data), expires_in=600)
    idle = await browser.get("/console/")
    assert idle.status_code == 303 and "sign-in" in idle.headers["location"]


async def test_supervisor_sees_the_wallboard_and_signs_out(
    browser: Client, supervisor: TestAgent
) -> None:
    token = await _sign_in(browser, supervisor)
    board = await browser.get("/console/wallboard")
    assert board.status_code == 200 and "queue-cards" in board.text
    out = await browser.post("/console/sign-out", data={"_csrf": token})
    assert out.status_code == 303
    after = await browser.get("/console/wallboard")
    assert after.status_code == 303


async def test_errors_are_pages_and_the_json_api_is_unchanged(
    browser: Client, agent: TestAgent
) -> None:
    await _sign_in(browser, agent)
    page = await browser.get("/console/orders/no-such-order")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "<h1>" in page.text
    api = await browser.get("/v1/orders/no-such-order", headers=agent.headers)
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")


async def test_the_language_choice_is_remembered(browser: Client, agent: TestAgent) -> None:
    token = await _sign_in(browser, agent)
    zh = await browser.get("/console/", headers={"Accept-Language": "zh-CN"})
    assert "工作台" in zh.text
    r = await browser.post(
        "/console/language", data={"_csrf": token, "lang": "en", "next": "/console/"}
    )
    assert r.status_code == 303 and "hotline_lang=en" in r.headers["set-cookie"]
    en = await browser.get("/console/", headers={"Accept-Language": "zh-CN"})
    assert "<h1>Desk</h1>" in en.text


async def test_the_pages_load_only_the_apps_own_pinned_assets(browser: Client) -> None:
    page = await browser.get("/console/sign-in")
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"'#]+)["']""", page.text)
    assert [u for u in urls if not u.startswith(("/", "data:")) or u.startswith("//")] == []
    manifest = json.loads(MANIFEST.read_text())
    vendored = [u for u in urls if u.startswith("/static/vendor/")]
    assert len(vendored) == 2  # htmx and its SSE extension
    for url in vendored:
        served = await browser.get(url)
        folder, name = url.split("/")[-2:]
        assert hashlib.sha256(served.content).hexdigest() == manifest[folder]["files"][name]
    for url in (u for u in urls if u.startswith("/console/assets/")):
        assert (await browser.get(url)).status_code == 200


async def test_one_search_box_finds_a_caller_by_phone_or_name(
    browser: Client, agent: TestAgent, customer: TestCustomer
) -> None:
    await _sign_in(browser, agent)
    by_phone = await browser.get("/console/search", params={"q": customer.phone})
    assert by_phone.status_code == 303
    assert by_phone.headers["location"] == f"/console/customers/{customer.id}"
    by_name = await browser.get("/console/search", params={"q": customer.phone[-4:] + "x"})
    assert by_name.status_code == 200
    assert "Nothing found" in by_name.text or "没有找到" in by_name.text
    unknown = await browser.get("/console/calls/new", params={"from": "not a number"})
    assert unknown.status_code == 422 and 'id="new-customer"' in unknown.text
