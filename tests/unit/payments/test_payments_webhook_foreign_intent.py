"""A signed event about a PaymentIntent Stripe does not know (404 on the re-fetch), or one that
is no payment of ours, is acknowledged once: 200 "ignored", the event id recorded so Stripe's
redelivery is a duplicate, and the payment untouched. A 503 would be retried for days."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from payments import handle_event
from payments.gateway import Intent
from payments.models import Payment, WebhookReceipt
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import sqlite_sessions
from tests.unit.payments.test_payments_unknown import _card_payment, _count


def _event(event_id: str, intent_id: str, payment_id: str) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": intent_id, "metadata": {"payment_id": payment_id}}},
    }


async def test_an_intent_stripe_does_not_know_is_ignored_once() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        _o, p = await _card_payment(sessions, deps, orders, gateway, fault="before")
        assert p.status == "unknown"
        ev = _event("evt_gone", "pi_does_not_exist", p.id)
        now = datetime.now(UTC)
        assert await handle_event(sessions, deps, ev, now=now) == "ignored"
        assert await handle_event(sessions, deps, ev, now=now) == "duplicate"
        assert await _count(sessions, WebhookReceipt, WebhookReceipt.event_id == "evt_gone") == 1
        async with sessions() as s:
            row = await s.get_one(Payment, p.id)
        assert (row.status, row.intent_id) == ("unknown", None)


async def test_an_intent_of_someone_elses_payment_is_ignored_once() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        _o, p = await _card_payment(sessions, deps, orders, gateway, fault="before")
        # exists at Stripe, succeeded, but was not created for this payment
        foreign = Intent("pi_foreign", "succeeded", p.amount, p.currency, metadata={})
        gateway.intents[foreign.id] = foreign
        ev = _event("evt_foreign", foreign.id, p.id)  # the snapshot claims our payment
        now = datetime.now(UTC)
        assert await handle_event(sessions, deps, ev, now=now) == "ignored"
        assert await handle_event(sessions, deps, ev, now=now) == "duplicate"
        async with sessions() as s:
            row = await s.get_one(Payment, p.id)
        assert (row.status, row.intent_id) == ("unknown", None)
        assert orders.paid == {}
