"""StripeGateway.retrieve_intent reads the PaymentIntent with a plain GET instead of the SDK
(the webhook's hot path): the same Intent and the same errors as the SDK's call, against a
stand-in on 127.0.0.1 (tests/stripe_stub.py) answering what localstripe cannot."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from payments import GatewayError, GatewayUnknown, StripeGateway
from payments.gateway import GatewayNotFound, Intent, _intent, _plain
from tests.stripe_stub import run_stripe_stub


async def sdk_intent(gateway: StripeGateway, intent_id: str) -> Intent:
    """The plain path: the SDK's retrieve with the same expansion, through `_call`."""
    obj = await gateway._call(
        gateway.client.v1.payment_intents.retrieve_async,
        intent_id,
        {"expand": ["latest_charge.balance_transaction"]},
    )
    return _intent(_plain(obj))


def _expanded() -> dict[str, Any]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount": 10500,
        "currency": "cny",
        "client_secret": "pi_1_secret_x",
        "payment_method": {"id": "pm_1", "object": "payment_method"},
        "metadata": {"payment_id": "p1", "order_id": "o1"},
        "latest_charge": {
            "id": "ch_1",
            "object": "charge",
            "amount_refunded": 500,
            "balance_transaction": {"id": "txn_1", "object": "balance_transaction", "fee": 315},
        },
    }


async def test_the_same_intent_as_the_sdk() -> None:
    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url)
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, _expanded())
        lean = await gateway.retrieve_intent("pi_1")
        assert lean == await sdk_intent(gateway, "pi_1")
        assert (lean.fee, lean.amount_refunded, lean.payment_method) == (315, 500, "pm_1")
        await gateway.aclose()


async def test_one_keep_alive_session_closed_at_shutdown() -> None:
    """The reads share one aiohttp session (its connections kept alive) until `aclose`; the
    next read after it opens a new one."""
    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url)
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, _expanded())
        await gateway.retrieve_intent("pi_1")
        session = gateway._reads.get()
        await gateway.retrieve_intent("pi_1")
        assert gateway._reads.get() is session and not session.closed
        await gateway.aclose()
        assert session.closed
        assert (await gateway.retrieve_intent("pi_1")).fee == 315
        assert gateway._reads.get() is not session
        await gateway.aclose()


@pytest.mark.parametrize(
    ("status", "error", "raised"),
    [
        (500, {"type": "api_error", "message": "boom"}, GatewayUnknown),
        (429, {"type": "rate_limit_error", "message": "slow down"}, GatewayUnknown),
        (409, {"type": "idempotency_error", "message": "in flight"}, GatewayUnknown),
        (404, {"type": "invalid_request_error", "code": "resource_missing", "message": "no"},
         GatewayNotFound),
        (401, {"type": "invalid_request_error", "message": "Invalid API Key"}, GatewayError),
        (400, {"type": "invalid_request_error", "message": "bad"}, GatewayError),
    ],
)  # fmt: skip
async def test_the_same_errors_as_the_sdk(status: int, error: dict[str, Any], raised: type) -> None:
    with run_stripe_stub() as stub:
        gateway = StripeGateway("sk_test_x", api_base=stub.url)
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (status, {"error": error})
        with pytest.raises(raised) as lean:
            await gateway.retrieve_intent("pi_1")
        with pytest.raises(raised) as sdk:
            await sdk_intent(gateway, "pi_1")
        assert type(lean.value) is type(sdk.value)
        if raised is GatewayNotFound or raised is GatewayError:
            assert not isinstance(lean.value, GatewayUnknown)
        await gateway.aclose()


async def test_no_answer_is_unknown() -> None:
    with socket.socket() as silent:  # accepts (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        gateway = StripeGateway(
            "sk_test_x", api_base=f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3
        )
        with pytest.raises(GatewayUnknown):
            await gateway.retrieve_intent("pi_1")
        await gateway.aclose()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gateway = StripeGateway("sk_test_x", api_base=f"http://127.0.0.1:{port}", timeout=0.3)
    with pytest.raises(GatewayUnknown):
        await gateway.retrieve_intent("pi_1")
    await gateway.aclose()


def test_a_webhook_decodes_as_the_sdk_builds_it() -> None:
    """verify_webhook checks the signature with the SDK and decodes the body itself: the same
    event as the SDK's construct_event, and a wrong signature still refused."""
    import hashlib
    import hmac
    import json
    import time

    import stripe

    from payments.gateway import verify_webhook

    secret = "whsec_unit"
    body = json.dumps(
        {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
         "data": {"object": {"id": "pi_1", "metadata": {"payment_id": "p1"}, "amount": 10500,
                             "charges": {"object": "list", "data": [{"id": "ch_1"}]}}}}
    ).encode()  # fmt: skip
    ts = int(time.time())
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={ts},v1={sig}"
    assert verify_webhook(body, header, secret) == (
        stripe.Webhook.construct_event(body, header, secret).to_dict()
    )
    with pytest.raises(GatewayError, match="bad signature"):
        verify_webhook(body, f"t={ts},v1={'0' * 64}", secret)
