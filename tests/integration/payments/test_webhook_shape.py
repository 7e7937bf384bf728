"""A correctly signed Stripe body of the wrong shape is 400 `not-an-event` naming what is
wrong, never a 500, and stores nothing; a well-formed event of a type we do not handle is
still acknowledged. Through the live server, with bodies signed by the webhook secret."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import pytest

from core.runtime import Runtime
from payments.models import WebhookReceipt
from tests.integration.payments.helpers import count, signed
from tests.stripe_fixtures import LiveServer, LocalStripe


def _pi(obj: Any, **extra: Any) -> dict[str, Any]:
    return {"id": "evt_shape", "type": "payment_intent.succeeded", "data": {"object": obj}, **extra}


MALFORMED = [
    ({"type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}, "id"),
    ({**_pi({"id": "pi_1"}), "id": 123}, "id"),
    ({**_pi({"id": "pi_1"}), "id": ""}, "id"),
    (
        {"id": "evt_n7", "type": "payment_intent.succeeded", "data": {"object": "str"}},
        "data.object",
    ),
    ({"id": "evt_n7b", "type": "customer.created", "data": {"object": "s"}}, "data.object"),
    ({"id": "evt_n8", "type": "payment_intent.succeeded", "data": []}, "data"),
    ({"id": "evt_n9", "type": "payment_intent.succeeded"}, "data"),
    ({"id": "evt_n10", "type": 7, "data": {"object": {}}}, "type"),
    (_pi({"id": 5}), "data.object.id"),
    (_pi({}), "data.object.id"),
    (_pi({"id": "pi_1", "metadata": "x"}), "data.object.metadata"),
    (_pi({"id": "pi_1", "metadata": {"payment_id": 9}}), "data.object.metadata.payment_id"),
    (
        {"id": "evt_c1", "type": "charge.refunded", "data": {"object": {"payment_intent": 1}}},
        "data.object.payment_intent",
    ),
    (
        {
            "id": "evt_d1",
            "type": "charge.dispute.created",
            "data": {"object": {"id": "dp_1", "charge": {"payment_intent": ["pi_1"]}}},
        },
        "data.object.charge.payment_intent",
    ),
    (
        {"id": "evt_d2", "type": "charge.dispute.created", "data": {"object": {"charge": "ch"}}},
        "data.object.id",
    ),
    ({"id": "evt_p1", "type": "payout.paid", "data": {"object": {"id": {}}}}, "data.object.id"),
]


@pytest.mark.parametrize(("event", "field"), MALFORMED)
async def test_a_signed_event_of_the_wrong_shape_is_400_not_an_event(
    runtime: Runtime, pay_server: LiveServer, localstripe: LocalStripe, event: Any, field: str
) -> None:
    raw, sig = signed(localstripe.webhook_secret, event)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post("/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": sig})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/not-an-event"), body
    assert body["errors"][0]["field"] == field, body
    if isinstance(event.get("id"), str) and event["id"]:
        assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == event["id"]) == 0


@pytest.mark.parametrize("raw", [b"not json", b'{"id": "evt_1",', b""])
async def test_a_signed_body_that_is_not_json_is_not_an_event(
    pay_server: LiveServer, localstripe: LocalStripe, raw: bytes
) -> None:
    """The signature held, so the sender has our secret: the body is wrong, not the signature."""
    ts = int(time.time())
    mac = hmac.new(localstripe.webhook_secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post(
            "/v1/webhooks/stripe",
            content=raw,
            headers={"Stripe-Signature": f"t={ts},v1={mac.hexdigest()}"},
        )
    assert r.status_code == 400, r.text
    assert r.json()["type"].endswith("/not-an-event"), r.text
    # a body that is not JSON and signed with the wrong secret is still a bad signature
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        wrong = {"Stripe-Signature": f"t={ts},v1={'0' * 64}"}
        r = await http.post("/v1/webhooks/stripe", content=raw, headers=wrong)
    assert r.json()["type"].endswith("/bad-signature"), r.text


async def test_a_well_formed_event_we_do_not_handle_is_acknowledged(
    runtime: Runtime, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    event = {
        "id": f"evt_other_{time.time_ns()}",
        "type": "customer.created",
        "data": {"object": {"id": 42, "metadata": "anything"}},  # not a shape we read
    }
    raw, sig = signed(localstripe.webhook_secret, event)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post("/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": sig})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": event["id"], "outcome": "ignored"}
