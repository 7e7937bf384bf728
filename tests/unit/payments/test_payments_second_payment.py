"""A capture whose order commerce reports as already paid is refunded and recorded, whether or
not we can see the other payment (it may have committed while we waited)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from core.outbox import OutboxMessage
from core.principal import Principal
from payments import charge_card, start_payment
from payments.models import Payment, PaymentIncident
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

AGENT = Principal("agent", "a1", frozenset({"agent", "supervisor"}))


async def test_already_paid_from_commerce_refunds_the_capture() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o = orders.add(order(uuid.uuid4().hex))
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            p = await start_payment(
                s, deps, o.id, "card", principal=AGENT, request_key="k", now=now
            )
        orders.paid[o.id] = 1  # paid elsewhere; no succeeded payment row visible to us
        await charge_card(sessions, deps, p.pay_token or "", "pm_card_visa", now=now)
        async with sessions() as s:
            row = await s.get_one(Payment, p.id)
            incidents = list(await s.scalars(select(PaymentIncident)))
            facts = list(
                await s.scalars(
                    select(OutboxMessage.payload).where(OutboxMessage.topic == "payment.incident")
                )
            )
        assert row.status == "succeeded" and row.refunded_amount == row.amount
        assert gateway.refunded[row.intent_id or ""] == row.amount
        assert [i.kind for i in incidents] == ["auto_refund"]
        assert "already paid" in incidents[0].detail
        assert facts == [
            {
                "incident_id": incidents[0].id,
                "payment_id": p.id,
                "order_id": o.id,
                "kind": "auto_refund",
            }
        ]
