"""Helpers of the SMS channel tests: a signed text (twilio's own RequestValidator), the TwiML
reply read back, the whole outbox relayed (fulfillment, payments, sms.send) and offers."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from twilio.request_validator import RequestValidator

import commerce
import payments
from api import outbox_routes
from api.composition import build_services
from core.broker import InProcessSender
from core.money import Money
from core.outbox import relay_once
from core.runtime import Runtime
from core.sms import SmsMessage

PATH = "/v1/webhooks/sms"
HOTLINE = "+8610086"


def sign(token: str, public: str, path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(public + path, params)}


def reply_of(twiml: str) -> str:
    root = ET.fromstring(twiml)  # noqa: S314 (our own reply)
    assert root.tag == "Response", twiml
    message = root.find("Message")
    return (message.text or "") if message is not None else ""


async def text(
    client: Any, token: str, public: str, phone: str, body: str, sid: str | None = None
) -> str:
    """Text the hotline as `phone`; the reply ("" when it stays silent)."""
    params = {
        "From": phone,
        "To": HOTLINE,
        "Body": body,
        "MessageSid": sid or "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "NumSegments": "1",
        "FromCountry": "CN",  # an extra field, as Twilio sends many
    }
    r = await client.post(PATH, data=params, headers=sign(token, public, PATH, params))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return reply_of(r.text)


async def relay_all(rt: Runtime, rounds: int = 10) -> None:
    """The outbox relay with every consumer, until nothing is due (order.paid -> shipments ->
    e-ticket SMS -> sms.send)."""
    sender = InProcessSender(outbox_routes.handlers(build_services(rt)))
    for _ in range(rounds):
        if not await relay_once(rt.sessions, sender, now=rt.clock.now()):
            return


async def make_offer(rt: Runtime, *, capacity: int = 50, price: int = 38000) -> commerce.Offer:
    now = rt.clock.now()
    code = "T" + uuid.uuid4().hex[:7].upper()
    async with rt.sessions() as s, s.begin():
        return await commerce.create_offer(
            s,
            kind="event",
            title="周杰伦演唱会",
            venue="上海体育场",
            starts_at=now + timedelta(days=7),
            price=Money(price, "CNY"),
            capacity=capacity,
            now=now,
            code=code,
        )


async def credit(rt: Runtime, customer_id: str, amount: int = 1_000_000) -> None:
    async with rt.sessions() as s, s.begin():
        await payments.top_up(
            s,
            customer_id,
            amount,
            reference=f"test:{uuid.uuid4().hex}",
            actor="system",
            currency="CNY",
            now=rt.clock.now(),
        )


def order_number(reply: str) -> str:
    m = re.search(r"(?:Order |订单)([0-9A-Z]{8})", reply)
    assert m, reply
    return m.group(1)


async def stored(rt: Runtime, phone: str) -> list[SmsMessage]:
    async with rt.sessions() as s:
        rows = await s.scalars(
            select(SmsMessage)
            .where((SmsMessage.to == phone) | (SmsMessage.from_phone == phone))
            .order_by(SmsMessage.created_at, SmsMessage.id)
        )
        return list(rows)
