"""The production path: a real `python -m api.worker` (relay -> Dramatiq -> `sms.send`)
texts a queued SMS through the Twilio-compatible server and stores its sid."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from api import sms_events, worker
from api.migrate import upgrade
from core.clock import SystemClock
from core.db import make_engine, make_sessionmaker
from core.sms import TOPIC_SEND, SmsMessage, SmsOutbox, TwilioSmsProvider
from tests.auth_fixtures import random_cn_mobile
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.fulfillment.test_fulfillment_worker_processes import (
    start_worker,
    stop,
    worker_env,
)
from tests.twilio_server import TwilioServer

pytestmark = pytest.mark.slow


@pytest.fixture
def scratch_db() -> Iterator[str]:
    name, url = create_database("hotline_sms")
    upgrade(url)
    yield url
    drop_database(name)


async def test_worker_process_sends_a_queued_sms(scratch_db: str, twilio: TwilioServer) -> None:
    assert sms_events.QUEUE in worker.QUEUES and TOPIC_SEND in sms_events.ROUTES
    env = worker_env(scratch_db, REDIS_URL, f"s{uuid.uuid4().hex[:8]}")
    env.update(
        HOTLINE_SMS_SENDER="twilio",
        HOTLINE_TWILIO_ACCOUNT_SID=twilio.account_sid,
        HOTLINE_TWILIO_AUTH_TOKEN=twilio.auth_token,
        HOTLINE_TWILIO_FROM="+15005550006",
        HOTLINE_TWILIO_BASE_URL=twilio.base_url,
    )
    engine = make_engine(scratch_db)
    sessions = make_sessionmaker(engine)
    outbox = SmsOutbox(TwilioSmsProvider("AC", "unused", "+1"), SystemClock())
    phone = random_cn_mobile()
    proc = start_worker(env)
    try:
        async with sessions() as s, s.begin():
            await outbox.send(s, phone, "Hotline code 482117", purpose="otp")
        deadline = time.monotonic() + 30
        while not twilio.to(phone) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        [text] = twilio.to(phone)
        assert text.body == "Hotline code 482117"

        for _ in range(50):
            async with sessions() as s:
                rows = list(await s.scalars(select(SmsMessage).where(SmsMessage.to == phone)))
            if rows and rows[0].status == "sent":
                break
            await asyncio.sleep(0.1)
        assert [(r.status, r.provider_message_id) for r in rows] == [("sent", text.sid)]
        assert rows[0].body != text.body  # a real provider's copy of the code is not kept
    finally:
        stop(proc)
        await engine.dispose()
