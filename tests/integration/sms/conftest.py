"""Fixtures of the SMS tests: a Twilio-compatible server on loopback, an app and a jobs
runtime configured to send through it (HOTLINE_SMS_SENDER=twilio), and the relay of the
`sms.send` job driven by hand (the test env runs no periodic relay). Package-scoped: their
connection pools close when this folder is done (the machine's PostgreSQL is shared)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from api import sms_events
from api.app import create_app
from api.composition import Services, build_services
from core.broker import InProcessSender
from core.clock import TravelClock
from core.outbox import relay_once
from core.runtime import Runtime
from core.settings import Settings
from core.sms import SmsMessage
from tests.twilio_server import TwilioServer

PUBLIC = "https://hotline.example.com"  # what the gateway signs, not the Host we are reached on


@pytest.fixture(scope="package")
def twilio() -> Iterator[TwilioServer]:
    server = TwilioServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def sms_settings(settings: Settings, twilio: TwilioServer) -> Settings:
    return dataclasses.replace(
        settings,
        sms_sender="twilio",
        twilio_account_sid=twilio.account_sid,
        twilio_auth_token=twilio.auth_token,
        twilio_from="+15005550006",
        twilio_base_url=twilio.base_url,
        public_base_url=PUBLIC,
    )


@pytest.fixture(scope="package")
async def sms_rt(sms_settings: Settings, clock: TravelClock) -> AsyncIterator[Runtime]:
    """The jobs' runtime, on the test loop (the app serves on another one)."""
    rt = Runtime.build(sms_settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture(scope="package")
def runtime(sms_rt: Runtime) -> Runtime:
    """What the auth fixtures (customer, agent, ...) use on the test loop."""
    return sms_rt


@pytest.fixture(scope="package")
async def sms_client(
    sms_settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(sms_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


def services(rt: Runtime) -> Services:
    """The jobs' composition over `rt` (the SMS port of its settings: the Twilio stand-in)."""
    return build_services(rt)


async def relay(rt: Runtime) -> int:
    """One pass of the outbox relay over `sms.send`, the way the worker runs it."""
    sender = InProcessSender(sms_events.handlers(services(rt)))
    return await relay_once(rt.sessions, sender, now=rt.clock.now())


def signed(token: str, path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, params)}


async def post_status(client: Any, token: str, sid: str, status: str) -> Any:
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC1"}
    path = "/v1/webhooks/sms/status"
    return await client.post(path, data=params, headers=signed(token, path, params))


async def messages(rt: Runtime, phone: str) -> list[SmsMessage]:
    async with rt.sessions() as s:
        rows = await s.scalars(
            select(SmsMessage).where(SmsMessage.to == phone).order_by(SmsMessage.created_at)
        )
        return list(rows)
