"""Fixtures of the voice tests: two apps over one database and one Redis prefix (two API
processes as far as a call is concerned), configured with a provider auth token and the public
URL the provider signs; a signing caller (api.voice_demo.Caller) that walks calls through them.
Package-scoped: their connection pools close when this folder is done."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

import commerce
import payments
from api.app import create_app
from api.voice_demo import Caller
from core.clock import TravelClock
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from core.settings import Settings

PUBLIC = "https://hotline.example.com"  # what the provider signs, not the Host we are reached on
TOKEN = "voice-test-" + uuid.uuid4().hex


@pytest.fixture(scope="package")
def voice_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, twilio_auth_token=TOKEN, public_base_url=PUBLIC)


@pytest.fixture(scope="package")
async def voice_rt(voice_settings: Settings, clock: TravelClock) -> AsyncIterator[Runtime]:
    rt = Runtime.build(voice_settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture(scope="package")
def runtime(voice_rt: Runtime) -> Runtime:
    """What the auth fixtures (customer, agent, ...) use on the test loop."""
    return voice_rt


@pytest.fixture(scope="package")
async def voice_client(
    voice_settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(voice_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


@pytest.fixture(scope="package")
async def second_client(
    voice_settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """Another app: its own composition (its own call-state store), the same Redis."""
    app = create_app(voice_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.8:8000") as c:
        yield c


def caller(client: Any, phone: str, **kw: Any) -> Caller:
    return Caller(client, public_base=PUBLIC, auth_token=TOKEN, phone=phone, **kw)


async def unpaid_order(runtime: Runtime, customer_id: str, *, price: int = 12800) -> Any:
    """An e-ticket order waiting for payment, placed through the commerce room."""
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="周杰伦 演唱会",
            venue="上海体育场",
            starts_at=now + timedelta(days=30),
            price=Money(price, "CNY"),
            capacity=5,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=customer_id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{customer_id}",
            channel="phone",
            settings=runtime.settings,
            now=now,
        )
    return order


async def top_up(runtime: Runtime, customer_id: str, amount: int) -> None:
    async with runtime.sessions() as s, s.begin():
        await payments.top_up(
            s,
            customer_id,
            amount,
            reference=f"test-{uuid.uuid4().hex}",
            actor="system:test",
            currency="CNY",
            now=runtime.clock.now(),
        )


AGENT = Principal("agent", uuid.uuid4().hex, frozenset({"agent"}))
