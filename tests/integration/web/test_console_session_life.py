"""How long a console session lives in the store: IDLE_MINUTES from when the guard last
wrote it (each time `seen` moves on), not renewed by every read. So a session in use keeps
living, and one left alone is gone from the store when the idle rule would refuse it."""

from __future__ import annotations

import time

import msgspec
from litestar.stores.redis import RedisStore

from tests.auth_fixtures import TestAgent
from tests.integration.web.test_console_access import Client, _sign_in, store
from web.sessions import COOKIE, IDLE_MINUTES

__all__ = ["store"]  # the fixture, shared with the access tests (browser: conftest)


async def test_a_session_in_use_is_written_back_with_a_fresh_lifetime(
    browser: Client, agent: TestAgent, store: RedisStore
) -> None:
    await _sign_in(browser, agent)
    sid = browser.cookies.get(COOKIE)
    assert sid
    lifetime = await store.expires_in(sid)
    assert lifetime is not None and IDLE_MINUTES * 60 - 10 <= lifetime <= IDLE_MINUTES * 60

    # seen a moment ago: the page reads the session and leaves its lifetime alone
    data = msgspec.json.decode(await store.get(sid) or b"{}")
    data["seen"] = time.time()
    await store.set(sid, msgspec.json.encode(data), expires_in=100)
    assert (await browser.get("/console/")).status_code == 200
    lifetime = await store.expires_in(sid)
    assert lifetime is not None and lifetime <= 100

    # seen longer ago than SEEN_STEP: `seen` moves on, the session is written back and
    # lives IDLE_MINUTES from now
    data["seen"] = time.time() - 120
    await store.set(sid, msgspec.json.encode(data), expires_in=100)
    assert (await browser.get("/console/")).status_code == 200
    lifetime = await store.expires_in(sid)
    assert lifetime is not None and lifetime > IDLE_MINUTES * 60 - 10
    seen = msgspec.json.decode(await store.get(sid) or b"{}")["seen"]
    assert time.time() - seen < 10
