"""The real Stripe adapter behind a faulty link to localstripe (a stand-in on 127.0.0.1 that
loses answers or stalls past the client timeout): the attempt is left `unknown`, the sweeper
settles it with the same idempotency key, and the customer is charged exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, charge_card, start_payment, sweep_once
from payments.models import Payment
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, captures, order_status, place_order
from tests.stripe_fixtures import LocalStripe
from tests.stripe_stub import StripeStub, run_stripe_stub


@pytest.fixture
def stub(localstripe: LocalStripe) -> Iterator[StripeStub]:
    with run_stripe_stub(localstripe.url) as s:
        s.hang_seconds = 2
        yield s


@pytest.mark.parametrize("fault", ["500", "500-after", "hang-after"])
async def test_lost_answer_is_unknown_then_swept_without_double_charge(
    runtime: Runtime, localstripe: LocalStripe, stub: StripeStub, fault: str
) -> None:
    gateway = StripeGateway("sk_test_hotline", api_base=stub.url, timeout=0.5)
    deps = PaymentDeps(orders=CommerceOrders(), gateway=gateway, public_base_url="http://t")
    order = await place_order(runtime)
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s, deps, order.id, "card", principal=AGENT, request_key=uuid.uuid4().hex, now=now
        )
    pm = localstripe.create_card_method("4242424242424242")
    stub.faults.append(fault)
    p, _ = await charge_card(runtime.sessions, deps, p.pay_token or "", pm, now=now)
    assert p.status == "unknown"
    assert await order_status(runtime, order.id) == "awaiting_payment"
    done_upstream = 0 if fault == "500" else 1
    assert stub.forwarded_writes("/v1/payment_intents") == done_upstream

    await sweep_once(runtime.sessions, deps, runtime.clock.now())
    await sweep_once(runtime.sessions, deps, runtime.clock.now())
    async with runtime.sessions() as s:
        row = await s.get_one(Payment, p.id)
    assert row.status == "succeeded" and row.intent_id
    assert stub.forwarded_writes("/v1/payment_intents") == 1, "one PaymentIntent, never two"
    intent = await gateway.retrieve_intent(row.intent_id)
    assert intent.status == "succeeded" and intent.metadata == {
        "order_id": order.id,
        "order_number": order.number,
        "payment_id": p.id,
    }
    assert await order_status(runtime, order.id) == "paid"
    assert await captures(runtime, p.id) == 1
