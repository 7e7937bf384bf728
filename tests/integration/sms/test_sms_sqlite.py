"""Embedded defaults (`make run`, SQLite, the sink): the migration runs, a queued text is
marked sent by the in-process relay with a generated provider id, the lease sweep runs, and
an inbound MessageSid is answered once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from api.migrate import upgrade
from core.clock import TravelClock
from core.runtime import Runtime
from core.sms import SmsMessage, SmsOutbox
from core.sms_delivery import answer_once, requeue_stale
from tests.conftest import make_test_settings
from tests.integration.sms.conftest import messages, relay, services


@pytest.fixture
async def sqlite_rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)
    rt = Runtime.build(make_test_settings(url, redis_url=""), clock=TravelClock())
    yield rt
    await rt.close()


async def test_sink_sends_after_commit_on_sqlite(sqlite_rt: Runtime) -> None:
    rt = sqlite_rt
    sms = services(rt).sms
    assert isinstance(sms, SmsOutbox) and sms.is_sink
    async with rt.sessions() as s, s.begin():
        await sms.send(s, "+8613800138000", "Hotline code 123456", purpose="otp")
    assert [m.status for m in await messages(rt, "+8613800138000")] == ["queued"]
    assert await relay(rt) == 1
    [row] = await messages(rt, "+8613800138000")
    assert row.status == "sent" and (row.provider_message_id or "").startswith("SM")
    assert await relay(rt) == 0
    assert await requeue_stale(rt.sessions, rt.clock.now()) == 0
    async with rt.sessions() as s, s.begin():  # a job that died mid-send, lease lapsed
        stale = await s.get_one(SmsMessage, row.id)
        stale.status, stale.lease_until = "sending", rt.clock.now() - timedelta(seconds=1)
    assert await requeue_stale(rt.sessions, rt.clock.now()) == 1
    assert await relay(rt) == 1
    assert [m.status for m in await messages(rt, "+8613800138000")] == ["sent"]

    async def answer(session: object) -> str:
        return "thanks"

    first = await answer_once(rt.sessions, "SM1", None, rt.clock.now(), answer)
    again = await answer_once(rt.sessions, "SM1", None, rt.clock.now(), answer)
    assert (first, again) == (("thanks", True), ("thanks", False))
