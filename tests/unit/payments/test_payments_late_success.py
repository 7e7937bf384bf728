"""`payment_intent.succeeded` for an attempt we had given up on (failed or canceled): the money
was taken, so it is never ignored: booked and recorded, then kept if the order can still take
it, else refunded."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from core.principal import Principal
from payments import charge_card, handle_event, start_payment
from payments.models import Payment, PaymentIncident
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

AGENT = Principal("agent", "a1", frozenset({"agent", "supervisor"}))


@pytest.mark.parametrize(
    ("given_up_as", "paid_elsewhere"),
    [("failed", False), ("canceled", False), ("failed", True), ("canceled", True)],
)
async def test_success_after_we_gave_up(given_up_as: str, paid_elsewhere: bool) -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o = orders.add(order(uuid.uuid4().hex))
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            p = await start_payment(
                s, deps, o.id, "card", principal=AGENT, request_key="k", now=now
            )
        gateway.faults.append("after")  # charged, answer lost
        p, _ = await charge_card(sessions, deps, p.pay_token or "", "pm_card_visa", now=now)
        async with sessions() as s, s.begin():
            intent_id = next(iter(gateway.intents))
            # e.g. a refused retry made us give the attempt up while Stripe had charged it
            await s.execute(update(Payment).where(Payment.id == p.id).values(status=given_up_as))
        if paid_elsewhere:
            orders.paid[o.id] = 1
        ev = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent_id, "metadata": {"payment_id": p.id}}},
        }
        assert await handle_event(sessions, deps, ev, now=now) == "settled"
        # a second delivery changes nothing
        ev2 = {**ev, "id": f"evt_{uuid.uuid4().hex}"}
        assert await handle_event(sessions, deps, ev2, now=now) == "settled"
        async with sessions() as s:
            row = await s.get_one(Payment, p.id)
            kinds = sorted(await s.scalars(select(PaymentIncident.kind)))
        assert row.status == "succeeded" and row.intent_id == intent_id
        assert gateway.charges == 1
        if paid_elsewhere:
            assert row.refunded_amount == row.amount == gateway.refunded[intent_id]
            assert kinds == ["auto_refund", "late_success"]
            assert orders.paid == {o.id: 2}
        else:
            assert row.refunded_amount == 0 and intent_id not in gateway.refunded
            assert kinds == ["late_success"]
            assert orders.paid == {o.id: 1}, "the order was still payable: it is paid now"
