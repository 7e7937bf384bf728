"""Option 3: the latest e-ticket the e-ticket partner sent is texted again (queued like every
SMS, in the shipment's language), and option 4 reads the open complaints."""

from __future__ import annotations

from sqlalchemy import select

import ticketing
from core.db import new_id
from core.runtime import Runtime
from core.sms import SmsMessage
from fulfillment.models import Partner, Shipment
from tests.auth_fixtures import TestAgent, make_customer

from .conftest import caller, unpaid_order


async def sent_eticket(runtime: Runtime, customer_id: str, phone: str) -> str:
    order = await unpaid_order(runtime, customer_id)
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        partner = await s.scalar(select(Partner).where(Partner.code == "eticket"))
        s.add(
            Shipment(
                id=new_id(),
                order_id=order.id,
                partner_id=partner.id,
                status="delivered",
                request={
                    "order_number": order.number,
                    "items": [{"name": "演唱会", "quantity": 1, "codes": ["JAY-7781"]}],
                    "recipient": {"name": "x", "phone": phone, "address": None},
                },
                language="en",
                attempts=1,
                dead_lettered=False,
                created_at=now,
                dispatched_at=now,
                updated_at=now,
            )
        )
    return order.number


async def test_the_latest_eticket_is_texted_again(voice_client, runtime: Runtime) -> None:
    customer = await make_customer(runtime, locale="en")
    number = await sent_eticket(runtime, customer.id, customer.phone)
    c = caller(voice_client, customer.phone)
    said = await c.walk(["3", customer.pin])
    assert f"The e-ticket of order {' '.join(number)} is on its way" in said[2].text
    async with runtime.sessions() as s:
        texts = list(
            await s.scalars(
                select(SmsMessage.body).where(
                    SmsMessage.to == customer.phone, SmsMessage.purpose == "eticket"
                )
            )
        )
    assert texts == [f"Hotline: your e-tickets for order {number}: JAY-7781."]


async def test_open_complaints_are_read_out(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    customer = await make_customer(runtime)
    opened = await voice_client.post(
        "/v1/tickets",
        json={
            "category": "delivery",
            "subject": "电子票未收到",
            "description": "没有收到短信",
            "customer_id": customer.id,
        },
        headers=agent.headers,
    )
    assert opened.status_code == 201, opened.text
    number = opened.json()["number"]
    c = caller(voice_client, customer.phone)
    said = await c.walk(["4", customer.pin])
    assert "您有1个处理中的投诉" in said[2].text
    assert f"投诉 {' '.join(ch for ch in number if ch.isalnum())}" in said[2].text
    async with runtime.sessions() as s:
        assert [t.number for t in await ticketing.open_complaints(s, customer.id)] == [number]
