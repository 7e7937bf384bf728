"""Payments joined to real orders on PostgreSQL: a payment that lands after the hold lapsed
and the seat is gone is refunded automatically and recorded (a cancelled paid order:
test_payments_cancellation.py)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

import commerce
from core.money import Money
from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, start_payment
from payments.models import Payment, PaymentIncident
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, order_status, wait_for_event
from tests.stripe_fixtures import LiveServer, LocalStripe


async def _order_on(runtime: Runtime, offer_id: str) -> commerce.Order:
    async with runtime.sessions() as s, s.begin():
        return await commerce.place_order(
            s,
            customer_id=uuid.uuid4().hex,
            lines=[commerce.LineRequest(offer_id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=AGENT.actor,
            channel="phone",
            settings=runtime.settings,
            now=runtime.clock.now(),
        )


async def test_late_payment_without_capacity_is_refunded_and_recorded(
    runtime: Runtime, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    from payments.models import WebhookReceipt
    from tests.integration.payments.helpers import count

    deps = PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=localstripe.url),
        public_base_url=pay_server.url,
    )
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="last seat",
            venue="Hall",
            starts_at=now + timedelta(days=9),
            price=Money(9900, "CNY"),
            capacity=1,
            now=now,
        )
    late = await _order_on(runtime, offer.id)
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s, deps, late.id, "card", principal=AGENT, request_key=uuid.uuid4().hex, now=now
        )
    import httpx

    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        await http.get(f"/pay/{p.pay_token}")
        r = await http.post(
            f"/pay/{p.pay_token}/charge",
            json={"payment_method": localstripe.create_card_method("4000002500003155")},
        )
    body = r.json()
    assert body["status"] == "requires_action"
    # the caller dawdles in 3-D Secure: the hold lapses and someone else takes the seat
    async with runtime.sessions() as s, s.begin():
        await commerce.transition(
            s,
            late.id,
            commerce.OrderStatus.EXPIRED,
            actor="system",
            channel="system",
            reason="hold lapsed",
            now=now,
        )
    await _order_on(runtime, offer.id)
    before = await count(runtime, WebhookReceipt, WebhookReceipt.type == "payment_intent.succeeded")
    async with runtime.sessions() as s:
        intent_id = (await s.get_one(Payment, p.id)).intent_id
    localstripe.authenticate_3ds(intent_id or "", body["client_secret"])
    await wait_for_event(runtime, "payment_intent.succeeded", before)
    async with runtime.sessions() as s:
        row = await s.get_one(Payment, p.id)
        kinds = list(
            await s.scalars(select(PaymentIncident.kind).where(PaymentIncident.payment_id == p.id))
        )
    assert row.status == "succeeded" and row.refunded_amount == row.amount
    assert kinds == ["auto_refund"]
    assert await order_status(runtime, late.id) == "expired"
    intent = await deps.gateway.retrieve_intent(intent_id or "")  # type: ignore[union-attr]
    assert intent.amount_refunded == intent.amount
