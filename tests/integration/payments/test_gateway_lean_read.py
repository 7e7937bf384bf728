"""The webhook's PaymentIntent read (a plain GET, payments/gateway.py) against localstripe:
the same Intent as the SDK's retrieve, for a captured intent and an unknown one."""

from __future__ import annotations

import uuid

import pytest

from payments import StripeGateway
from payments.gateway import GatewayNotFound
from tests.stripe_fixtures import LocalStripe
from tests.unit.payments.test_payments_lean_read import sdk_intent


async def test_localstripe_intent_read_both_ways(localstripe: LocalStripe) -> None:
    gateway = StripeGateway("sk_test_hotline", api_base=localstripe.url)
    made = await gateway.create_intent(
        amount=12800,
        currency="CNY",
        payment_method=localstripe.create_card_method("4242424242424242"),
        metadata={"payment_id": uuid.uuid4().hex},
        idempotency_key=uuid.uuid4().hex,
    )
    lean = await gateway.retrieve_intent(made.id)
    assert lean == await sdk_intent(gateway, made.id)
    assert lean.status == "succeeded" and lean.amount == 12800 and lean.charge_id
    with pytest.raises(GatewayNotFound):
        await gateway.retrieve_intent("pi_nothere")
    with pytest.raises(GatewayNotFound):
        await sdk_intent(gateway, "pi_nothere")
    await gateway.aclose()
