"""Signed webhooks to the live server, in orders Stripe really delivers them: canceled intents,
a failure arriving when Stripe already says succeeded, a success after a failure was applied,
and disputes whose amount is Stripe's and capped by what is left of the capture.

The server talks to localstripe through a stand-in (tests/stripe_stub.py) where localstripe
cannot play Stripe: it has no disputes and cannot retry a failed intent. localstripe's own
deliveries are held back during each test so the order of events is the test's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.composition import Services, build_services
from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, refund_order
from payments.models import LedgerTransaction, PaymentIncident
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, captures, count, event, order_status, signed
from tests.integration.payments.test_payments_stripe import _charge, _pay_link, _payment
from tests.stripe_fixtures import LiveServer, LocalStripe
from tests.stripe_stub import StripeStub, run_stripe_stub


@contextmanager
def _quiet(localstripe: LocalStripe) -> Iterator[None]:
    from localstripe import webhooks

    saved = dict(webhooks._webhooks)
    webhooks._webhooks.clear()
    try:
        yield
    finally:
        webhooks._webhooks.update(saved)


@pytest.fixture
def stub(localstripe: LocalStripe, pay_server: LiveServer) -> Iterator[StripeStub]:
    """The live server's gateway goes through the stand-in for this test."""
    state = pay_server.app.state
    with run_stripe_stub(localstripe.url) as s, _quiet(localstripe):
        before: Services = state.services
        gateway = StripeGateway("sk_test_hotline", api_base=s.url)
        state.services = build_services(before.runtime, gateway=gateway)
        try:
            yield s
        finally:
            state.services = before


@pytest.fixture
def deps(stub: StripeStub) -> PaymentDeps:
    return PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=stub.url),
        public_base_url="http://unused",
    )


async def _deliver(server: LiveServer, secret: str, ev: dict[str, Any]) -> str:
    body, sig = signed(secret, ev)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        r = await http.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sig})
    assert r.status_code == 200, r.text
    return str(r.json()["outcome"])


def _pi_event(kind: str, intent_id: str, payment_id: str) -> dict[str, Any]:
    obj = {"id": intent_id, "object": "payment_intent", "metadata": {"payment_id": payment_id}}
    return event(kind, obj)


async def test_canceled_intent_cancels_the_attempt(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps)
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4000002500003155")
    assert body["status"] == "requires_action"
    row = await _payment(runtime, p.id)
    assert deps.gateway is not None and row.intent_id
    await deps.gateway.cancel_intent(row.intent_id, idempotency_key=uuid.uuid4().hex)
    ev = _pi_event("payment_intent.canceled", row.intent_id, p.id)
    secret = localstripe.webhook_secret
    assert [await _deliver(pay_server, secret, ev) for _ in range(2)] == ["settled", "duplicate"]
    assert (await _payment(runtime, p.id)).status == "canceled"
    assert await order_status(runtime, order.id) == "awaiting_payment"
    assert await captures(runtime, p.id) == 0


async def test_failure_event_after_stripe_succeeded_settles_as_success(
    runtime: Runtime,
    deps: PaymentDeps,
    pay_server: LiveServer,
    localstripe: LocalStripe,
    stub: StripeStub,
) -> None:
    order, p = await _pay_link(runtime, deps)
    stub.faults.append("500-after")  # charged at localstripe, the answer lost
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    assert body["status"] == "unknown"
    intent_id = str(stub.replied(f"pi:{p.id}")["id"])
    secret = localstripe.webhook_secret
    failed = _pi_event("payment_intent.payment_failed", intent_id, p.id)
    assert await _deliver(pay_server, secret, failed) == "settled"
    assert (await _payment(runtime, p.id)).status == "succeeded", "Stripe's state, not the event"
    assert await order_status(runtime, order.id) == "paid"
    ok = _pi_event("payment_intent.succeeded", intent_id, p.id)
    assert await _deliver(pay_server, secret, ok) == "settled"
    assert await captures(runtime, p.id) == 1
    assert stub.forwarded_writes("/v1/payment_intents") == 1


async def test_success_after_an_applied_failure_pays_the_order_once(
    runtime: Runtime,
    deps: PaymentDeps,
    pay_server: LiveServer,
    localstripe: LocalStripe,
    stub: StripeStub,
) -> None:
    order, p = await _pay_link(runtime, deps)
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4000002500003155")
    row = await _payment(runtime, p.id)
    intent_id = row.intent_id or ""
    localstripe.authenticate_3ds(intent_id, body["client_secret"], succeed=False)
    secret = localstripe.webhook_secret
    failed = _pi_event("payment_intent.payment_failed", intent_id, p.id)
    assert await _deliver(pay_server, secret, failed) == "settled"
    assert (await _payment(runtime, p.id)).status == "failed"
    # the customer then paid this intent at Stripe (localstripe cannot confirm it again)
    stub.canned[("GET", f"/v1/payment_intents/{intent_id}")] = (
        200,
        {
            "id": intent_id,
            "object": "payment_intent",
            "status": "succeeded",
            "amount": row.amount,
            "currency": row.currency.lower(),
            "metadata": {"payment_id": p.id},
            "latest_charge": {"id": "ch_retry", "object": "charge", "amount_refunded": 0},
        },
    )
    ok = _pi_event("payment_intent.succeeded", intent_id, p.id)
    assert await _deliver(pay_server, secret, ok) == "settled"
    again = _pi_event("payment_intent.payment_failed", intent_id, p.id)  # a late retry
    assert await _deliver(pay_server, secret, again) == "settled"
    after = await _payment(runtime, p.id)
    assert after.status == "succeeded" and after.refunded_amount == 0
    assert await order_status(runtime, order.id) == "paid"
    assert await captures(runtime, p.id) == 1
    kinds = await count(
        runtime,
        PaymentIncident,
        PaymentIncident.payment_id == p.id,
        PaymentIncident.kind == "late_success",
    )
    assert kinds == 1


async def test_dispute_amount_is_stripes_and_capped_by_what_is_left(
    runtime: Runtime,
    deps: PaymentDeps,
    pay_server: LiveServer,
    localstripe: LocalStripe,
    stub: StripeStub,
) -> None:
    _order, p = await _pay_link(runtime, deps, price=10000)
    await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    await refund_order(
        runtime.sessions,
        deps,
        p.order_id,
        4000,
        reason="seat changed",
        ticket_id=None,
        actor=AGENT.actor,
        request_key=uuid.uuid4().hex,
        now=runtime.clock.now(),
    )
    row = await _payment(runtime, p.id)
    dispute = {"object": "dispute", "currency": "cny", "payment_intent": row.intent_id}
    stub.canned[("GET", "/v1/disputes/dp_A")] = (200, {**dispute, "id": "dp_A", "amount": 9999})
    stub.canned[("GET", "/v1/disputes/dp_B")] = (200, {**dispute, "id": "dp_B", "amount": 500})
    secret = localstripe.webhook_secret
    snapshot = {"object": "dispute", "payment_intent": row.intent_id, "reason": "fraudulent"}
    first = event("charge.dispute.created", {**snapshot, "id": "dp_A", "amount": 1})
    outcomes = [await _deliver(pay_server, secret, first) for _ in range(2)]
    assert outcomes == ["dispute-recorded", "duplicate"]
    after = await _payment(runtime, p.id)
    assert after.disputed_amount == row.amount - 4000, "Stripe's amount, capped by what is left"
    second = event("charge.dispute.created", {**snapshot, "id": "dp_B", "amount": 500})
    assert await _deliver(pay_server, secret, second) == "dispute-recorded"
    after = await _payment(runtime, p.id)
    assert after.disputed_amount + after.refunded_amount == after.amount
    async with runtime.sessions() as s:
        disputes = list(
            await s.scalars(
                select(LedgerTransaction.memo).where(
                    LedgerTransaction.payment_id == p.id, LedgerTransaction.kind == "dispute"
                )
            )
        )
        details = list(
            await s.scalars(
                select(PaymentIncident.detail).where(
                    PaymentIncident.payment_id == p.id, PaymentIncident.kind == "dispute"
                )
            )
        )
    assert len(disputes) == 1, "nothing left to book for the second dispute"
    assert sorted(details) == sorted(
        [
            f"dispute dp_A: 9999 claimed, {row.amount - 4000} booked",
            "dispute dp_B: 500 claimed, 0 booked",
        ]
    )
