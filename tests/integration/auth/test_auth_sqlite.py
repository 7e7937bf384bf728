"""Embedded defaults (`make run`): enrollment, PIN and password changes on SQLite, no Redis.

SQLite has one writer at a time, so an audit row written through a second connection while
the request's session holds the write lock waits out the busy timeout and fails the request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

import auth
from api.app import create_app
from api.migrate import upgrade
from core.clock import TravelClock
from core.sms import SmsMessage
from tests.auth_fixtures import fixture_sessions, make_agent, random_cn_mobile
from tests.conftest import make_test_settings


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[tuple[Litestar, AsyncTestClient[Litestar]]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)
    app = create_app(make_test_settings(url, redis_url=""), clock=TravelClock())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield app, c


async def _code(app: Litestar, phone: str) -> str:
    async with fixture_sessions(app.state.runtime)() as s:
        text = await s.scalar(
            select(SmsMessage.body)
            .where(SmsMessage.to == phone)
            .order_by(SmsMessage.created_at.desc())
            .limit(1)
        )
    found = re.search(r"\b(\d{6})\b", text or "")
    assert found, text
    return found.group(1)


async def test_enrollment_pin_and_password_change_on_sqlite(sqlite_app: Any) -> None:
    app, client = sqlite_app
    phone = random_cn_mobile()
    assert (await client.post("/v1/auth/enrollment", json={"phone": phone})).status_code == 202
    code = await _code(app, phone)
    r = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": phone, "code": code, "pin": "508317"}
    )
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post(
        "/v1/auth/pin", headers=headers, json={"current_pin": "508317", "new_pin": "730491"}
    )
    assert r.status_code == 200, r.text
    assert (await client.post("/v1/auth/token", json={"phone": phone, "pin": "730491"})).is_success
    wrong = await client.post(
        "/v1/auth/pin", headers=headers, json={"current_pin": "000001", "new_pin": "730491"}
    )
    assert wrong.status_code == 401  # the old token is revoked, so the PIN is never checked

    agent = await make_agent(app.state.runtime)
    r = await client.post(
        "/v1/auth/password",
        headers=agent.headers,
        json={"current_password": agent.password, "new_password": "another long passphrase"},
    )
    assert r.status_code == 200, r.text

    async with fixture_sessions(app.state.runtime)() as s:
        events = set(
            tuple(r)
            for r in await s.execute(select(auth.AuditEvent.event, auth.AuditEvent.outcome))
        )
    assert {("pin_change", "success"), ("password_change", "success")} <= events


async def test_lock_and_reset_on_sqlite(sqlite_app: Any) -> None:
    app, client = sqlite_app
    clock = app.state.runtime.clock
    phone = random_cn_mobile()
    assert (await client.post("/v1/auth/enrollment", json={"phone": phone})).status_code == 202
    r = await client.post(
        "/v1/auth/enrollment/confirm",
        json={"phone": phone, "code": await _code(app, phone), "pin": "508317"},
    )
    assert r.status_code == 200, r.text
    for _ in range(100):
        r = await client.post("/v1/auth/token", json={"phone": phone, "pin": "000001"})
        assert r.status_code in (401, 429), r.text
        if r.status_code == 429 and r.json()["type"].endswith("/locked"):
            break
        if r.status_code == 429:
            clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
    async with fixture_sessions(app.state.runtime)() as s:
        locked = await s.scalar(select(auth.Customer.locked).where(auth.Customer.phone == phone))
    assert locked is True
    clock.advance(seconds=61)
    assert (await client.post("/v1/auth/enrollment", json={"phone": phone})).status_code == 202
    r = await client.post(
        "/v1/auth/enrollment/confirm",
        json={"phone": phone, "code": await _code(app, phone), "pin": "583016"},
    )
    assert r.status_code == 200, r.text
    assert (await client.post("/v1/auth/token", json={"phone": phone, "pin": "583016"})).is_success
