"""The real Stripe adapter (official SDK over HTTP) against a stand-in on 127.0.0.1: where the
refunded amount is read from, and which answers leave an attempt `unknown`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from core.principal import Principal
from payments import (
    GatewayError,
    GatewayUnknown,
    StripeGateway,
    charge_card,
    start_payment,
    sweep_once,
)
from payments.models import Payment
from payments.service import PaymentDeps
from tests.stripe_stub import run_stripe_stub
from tests.unit.payments.fakes import MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

AGENT = Principal("agent", "a1", frozenset({"agent", "supervisor"}))


def _intent(amount: int = 10500, **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": amount,
        "currency": "cny",
        "metadata": {},
        **extra,
    }


async def test_refunded_amount_comes_from_latest_charge() -> None:
    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url)
        # current API versions: no `charges` on the intent, `latest_charge` is an id
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, _intent(latest_charge="ch_1"))
        stub.canned[("GET", "/v1/charges/ch_1")] = (
            200,
            {"id": "ch_1", "object": "charge", "amount_refunded": 2500},
        )
        assert (await gateway.retrieve_intent("pi_1")).amount_refunded == 2500
        # expanded as we ask for it
        expanded = {"id": "ch_1", "object": "charge", "amount_refunded": 4000}
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, _intent(latest_charge=expanded))
        assert (await gateway.retrieve_intent("pi_1")).amount_refunded == 4000
        # old versions and localstripe: the `charges` list
        old = _intent(charges={"object": "list", "data": [{"id": "ch_1", "amount_refunded": 700}]})
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, old)
        assert (await gateway.retrieve_intent("pi_1")).amount_refunded == 700


@pytest.mark.parametrize("fault", ["500", "hang-after", "409"])
async def test_timeouts_5xx_and_key_in_use_are_unknown(fault: str) -> None:
    with run_stripe_stub() as stub:
        stub.hang_seconds = 2
        gateway = StripeGateway("sk_test_x", api_base=stub.url, timeout=0.5)
        stub.canned[("POST", "/v1/payment_intents")] = (200, _intent())
        stub.faults.append(fault)
        with pytest.raises(GatewayUnknown):
            await gateway.create_intent(
                amount=10500,
                currency="CNY",
                payment_method="pm_1",
                metadata={},
                idempotency_key="pi:x",
            )
        stub.canned[("POST", "/v1/payment_intents")] = (
            402,
            {"error": {"type": "card_error", "code": "card_declined", "message": "declined"}},
        )
        with pytest.raises(GatewayError) as refused:
            await gateway.create_intent(
                amount=10500,
                currency="CNY",
                payment_method="pm_1",
                metadata={},
                idempotency_key="pi:y",
            )
        assert refused.value.declined


async def test_sweeper_retry_meeting_a_request_in_flight_stays_unknown() -> None:
    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url, timeout=0.5)
        orders = MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o = orders.add(order(uuid.uuid4().hex))
        now = datetime.now(UTC)
        async with sqlite_sessions() as sessions:
            async with sessions() as s, s.begin():
                p = await start_payment(
                    s, deps, o.id, "card", principal=AGENT, request_key="k", now=now
                )
            stub.faults.append("500")
            p, _ = await charge_card(sessions, deps, p.pay_token or "", "pm_card_visa", now=now)
            assert p.status == "unknown"
            stub.faults.append("409")  # Stripe: the first request with this key still runs
            assert await sweep_once(sessions, deps, now) == 0
            async with sessions() as s:
                assert (await s.get_one(Payment, p.id)).status == "unknown"
            stub.canned[("POST", "/v1/payment_intents")] = (
                200,
                _intent(metadata={"payment_id": p.id}),
            )
            assert await sweep_once(sessions, deps, now) == 1
            async with sessions() as s:
                row = await s.get_one(Payment, p.id)
            assert row.status == "succeeded" and row.intent_id == "pi_1"
            assert orders.paid == {o.id: 1}


@pytest.mark.parametrize("body", [b"[]", b"null", b"7", b'"evt"', b"[" * 5000 + b"]" * 5000])
def test_a_signed_body_that_is_not_an_event_object_is_refused(body: bytes) -> None:
    """Only Stripe holds the secret, but a signed body that is not a JSON object (or nests
    past the decoder) is a bad request, never a 500 from inside the SDK."""
    import hashlib
    import hmac
    import time

    from payments import NotAnEvent, parse_event

    secret = "whsec_unit"
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    with pytest.raises(NotAnEvent, match="not a Stripe event"):
        parse_event(body, f"t={ts},v1={sig}", secret)


@pytest.mark.parametrize("skew", [-301, 100_000, 301])
def test_a_signature_timestamp_too_far_either_way_is_refused(skew: int) -> None:
    """stripe-python only refuses old timestamps; one far in the future is refused too."""
    import hashlib
    import hmac
    import time

    from payments import BadSignature, parse_event

    secret = "whsec_unit"
    body = b'{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}'

    def header(ts: int) -> str:
        sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={ts},v1={sig}"

    now = int(time.time())
    assert parse_event(body, header(now + 60), secret)["id"] == "evt_1"
    with pytest.raises(BadSignature, match="tolerance"):
        parse_event(body, header(now + skew), secret)


async def test_an_intent_stripe_does_not_have_is_not_found_not_refused() -> None:
    """404 resource_missing is its own answer (the webhook acknowledges it); other 4xx stay
    refusals and 5xx unknown."""
    from payments import GatewayNotFound

    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url)
        missing = {
            "error": {
                "type": "invalid_request_error",
                "code": "resource_missing",
                "message": "No such payment_intent: 'pi_gone'",
            }
        }
        stub.canned[("GET", "/v1/payment_intents/pi_gone")] = (404, missing)
        with pytest.raises(GatewayNotFound):
            await gateway.retrieve_intent("pi_gone")
        bad = {"error": {"type": "invalid_request_error", "message": "Invalid API Key"}}
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (401, bad)
        with pytest.raises(GatewayError) as refused:
            await gateway.retrieve_intent("pi_1")
        assert not isinstance(refused.value, GatewayNotFound)
