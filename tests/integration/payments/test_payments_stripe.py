"""Card payments against localstripe on loopback, with its signed webhooks delivered to a live
Hotline server; orders come from the real commerce room on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, refresh_from_gateway, refund_order, start_payment
from payments.errors import RefundExceedsCaptured
from payments.models import LedgerTransaction, Payment, Refund, WebhookReceipt
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import (
    AGENT,
    captures,
    count,
    event,
    order_status,
    place_order,
    signed,
    wait_for_event,
    wait_for_status,
)
from tests.stripe_fixtures import LiveServer, LocalStripe


@pytest.fixture
def deps(localstripe: LocalStripe) -> PaymentDeps:
    return PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=localstripe.url),
        public_base_url="http://unused",
    )


async def _pay_link(runtime: Runtime, deps: PaymentDeps, price: int = 12800) -> tuple[Any, Payment]:
    order = await place_order(runtime, price=price)
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s,
            deps,
            order.id,
            "card",
            principal=AGENT,
            request_key=uuid.uuid4().hex,
            now=runtime.clock.now(),
        )
    return order, p


async def _charge(server: LiveServer, ls: LocalStripe, token: str, card: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        page = await http.get(f"/pay/{token}")
        assert page.status_code == 200 and "js.stripe.com/v3/" in page.text
        r = await http.post(
            f"/pay/{token}/charge", json={"payment_method": ls.create_card_method(card)}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


async def _payment(runtime: Runtime, pid: str) -> Payment:
    async with runtime.sessions() as s:
        return await s.get_one(Payment, pid)


async def test_card_success_pays_the_order_once(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    before = await count(runtime, WebhookReceipt, WebhookReceipt.type == "payment_intent.succeeded")
    order, p = await _pay_link(runtime, deps)
    assert p.pay_token and len(p.pay_token) >= 40
    body = await _charge(pay_server, localstripe, p.pay_token, "4242424242424242")
    assert body["status"] == "succeeded"
    assert await order_status(runtime, order.id) == "paid"
    row = await _payment(runtime, p.id)
    assert row.intent_id and row.amount == order.total
    intent = await deps.gateway.retrieve_intent(row.intent_id)  # type: ignore[union-attr]
    assert intent.metadata == {
        "order_id": order.id,
        "order_number": order.number,
        "payment_id": p.id,
    }
    assert intent.amount == order.total and intent.currency == "CNY"
    await wait_for_event(runtime, "payment_intent.succeeded", before)
    assert await captures(runtime, p.id) == 1, "the webhook after the page changed nothing"
    # The gateway's facts for finance: charge and balance transaction at once, the fee when
    # an answer carries the expanded balance transaction (a re-fetch, as the webhook's and
    # the pay page's return do; localstripe's fee is 0).
    row = await _payment(runtime, p.id)
    assert row.charge_id and row.charge_id.startswith("ch_")
    assert row.balance_transaction_id and row.balance_transaction_id.startswith("txn_")
    row = await refresh_from_gateway(
        runtime.sessions, deps, row, actor="system:test", now=runtime.clock.now()
    )
    assert (await _payment(runtime, p.id)).fee_amount == 0
    assert await captures(runtime, p.id) == 1


async def test_three_d_secure_settled_by_the_webhook(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    before = await count(runtime, WebhookReceipt, WebhookReceipt.type == "payment_intent.succeeded")
    order, p = await _pay_link(runtime, deps)
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4000002500003155")
    assert body["status"] == "requires_action" and body["client_secret"]
    assert await order_status(runtime, order.id) == "awaiting_payment"
    row = await _payment(runtime, p.id)
    localstripe.authenticate_3ds(row.intent_id or "", body["client_secret"])
    await wait_for_event(runtime, "payment_intent.succeeded", before)
    # the receipt count may have been bumped by a late delivery for an earlier test's intent
    await wait_for_status(runtime, p.id, "succeeded")
    assert await order_status(runtime, order.id) == "paid"
    async with httpx.AsyncClient(base_url=pay_server.url) as http:  # the page's return too
        r = await http.post(f"/pay/{p.pay_token}/confirm")
    assert r.json()["status"] == "succeeded"
    assert await captures(runtime, p.id) == 1


async def test_failed_three_d_secure_leaves_the_order_unpaid(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps)
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4000002500003155")
    row = await _payment(runtime, p.id)
    localstripe.authenticate_3ds(row.intent_id or "", body["client_secret"], succeed=False)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post(f"/pay/{p.pay_token}/confirm")
    assert r.json()["status"] == "failed"
    assert await order_status(runtime, order.id) == "awaiting_payment"


async def test_declined_card(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps)
    body = await _charge(pay_server, localstripe, p.pay_token or "", "4000000000000341")
    assert body["status"] == "failed" and "declined" in (body["detail"] or "")
    assert await order_status(runtime, order.id) == "awaiting_payment"
    assert await captures(runtime, p.id) == 0


async def test_partial_then_full_refund_capped_by_us(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps, price=10000)
    await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    now = runtime.clock.now()
    part = await refund_order(
        runtime.sessions,
        deps,
        order.id,
        3000,
        reason="seat changed",
        ticket_id=None,
        actor=AGENT.actor,
        request_key="r1",
        now=now,
    )
    rest = await refund_order(
        runtime.sessions,
        deps,
        order.id,
        None,
        reason="cancelled",
        ticket_id=None,
        actor=AGENT.actor,
        request_key="r2",
        now=now,
    )
    assert (part.status, rest.status) == ("succeeded", "succeeded")
    assert part.balance_transaction_id and part.balance_transaction_id.startswith("txn_")
    assert part.amount + rest.amount == order.total
    for amount in (1, None):
        with pytest.raises(RefundExceedsCaptured):
            await refund_order(
                runtime.sessions,
                deps,
                order.id,
                amount,
                reason="again",
                ticket_id=None,
                actor=AGENT.actor,
                request_key=uuid.uuid4().hex,
                now=now,
            )
    row = await _payment(runtime, p.id)
    intent = await deps.gateway.retrieve_intent(row.intent_id or "")  # type: ignore[union-attr]
    assert intent.amount_refunded == row.refunded_amount == order.total
    # localstripe sends no charge.refunded: deliver a signed one as Stripe would
    ev = event(
        "charge.refunded",
        {
            "id": "ch_x",
            "object": "charge",
            "payment_intent": row.intent_id,
            "amount_refunded": order.total,
            "metadata": {"payment_id": p.id},
        },
    )
    body, sig = signed(localstripe.webhook_secret, ev)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sig})
    assert r.json()["outcome"] == "refund-known"
    assert await count(runtime, Refund, Refund.payment_id == p.id) == 2, "webhook added none"
    assert (
        await count(
            runtime,
            LedgerTransaction,
            LedgerTransaction.payment_id == p.id,
            LedgerTransaction.kind == "refund",
        )
        == 2
    )


async def test_refund_made_at_the_gateway_is_recorded_from_the_webhook(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    _order, p = await _pay_link(runtime, deps, price=10000)
    await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    row = await _payment(runtime, p.id)
    assert deps.gateway is not None
    await deps.gateway.refund(
        row.intent_id or "", amount=2500, metadata={}, idempotency_key=uuid.uuid4().hex
    )  # e.g. the Stripe dashboard
    ev = event(
        "charge.refunded",
        {"id": "ch_y", "object": "charge", "payment_intent": row.intent_id, "metadata": {}},
    )
    body, sig = signed(localstripe.webhook_secret, ev)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sig})
    assert r.json()["outcome"] == "refund-recorded"
    assert (await _payment(runtime, p.id)).refunded_amount == 2500


async def test_duplicate_and_reordered_events_change_nothing_twice(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps)
    await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    row = await _payment(runtime, p.id)
    obj = {"id": row.intent_id, "object": "payment_intent", "metadata": {"payment_id": p.id}}
    ok = event("payment_intent.succeeded", obj)
    late_failure = event(
        "payment_intent.payment_failed", {**obj, "status": "requires_payment_method"}
    )
    secret = localstripe.webhook_secret
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        outcomes = []
        for ev in (ok, ok, late_failure, late_failure):
            body, sig = signed(secret, ev)
            r = await http.post(
                "/v1/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": sig, "Content-Type": "application/json"},
            )
            assert r.status_code == 200, r.text
            outcomes.append(r.json()["outcome"])
    assert outcomes == ["settled", "duplicate", "settled", "duplicate"]
    assert (await _payment(runtime, p.id)).status == "succeeded"
    assert await order_status(runtime, order.id) == "paid"
    assert await captures(runtime, p.id) == 1


async def test_bad_signature_is_400_and_changes_nothing(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await _pay_link(runtime, deps)
    ev = event("payment_intent.succeeded", {"id": "pi_x", "metadata": {"payment_id": p.id}})
    good_body, _ = signed(localstripe.webhook_secret, ev)
    cases = [
        signed("whsec_wrong", ev)[1],
        signed(localstripe.webhook_secret, ev, at=int(__import__("time").time()) - 301)[1],
        signed(localstripe.webhook_secret, ev, at=int(__import__("time").time()) + 100_000)[1],
        "",
    ]
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        for sig in cases:
            r = await http.post(
                "/v1/webhooks/stripe", content=good_body, headers={"Stripe-Signature": sig}
            )
            assert r.status_code == 400
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"].endswith("/bad-signature")
    assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 0
    assert await order_status(runtime, order.id) == "awaiting_payment"


async def test_a_signed_body_that_is_no_event_is_400_not_an_event(
    pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    """The signature held, so the sender has our secret: tell it the body is wrong, not it."""
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        for body in ([], None, "evt_1", 7):
            raw, sig = signed(localstripe.webhook_secret, body)  # type: ignore[arg-type]
            r = await http.post(
                "/v1/webhooks/stripe", content=raw, headers={"Stripe-Signature": sig}
            )
            assert r.status_code == 400
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["type"].endswith("/not-an-event")


async def test_concurrent_refunds_never_exceed_captured(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    """localstripe would refund past the charge; our row lock and reservation do not."""
    order, p = await _pay_link(runtime, deps, price=10000)
    await _charge(pay_server, localstripe, p.pay_token or "", "4242424242424242")
    total = order.total

    async def refund(i: int) -> bool:
        try:
            await refund_order(
                runtime.sessions,
                deps,
                order.id,
                4000,
                reason="race",
                ticket_id=None,
                actor=AGENT.actor,
                request_key=f"race-{i}",
                now=runtime.clock.now(),
            )
            return True
        except RefundExceedsCaptured:
            return False

    results = await asyncio.gather(*(refund(i) for i in range(6)))
    assert sum(results) == total // 4000
    row = await _payment(runtime, p.id)
    assert row.refunded_amount == 4000 * sum(results) <= total
    intent = await deps.gateway.retrieve_intent(row.intent_id or "")  # type: ignore[union-attr]
    assert intent.amount_refunded == row.refunded_amount


async def test_pay_link_expires_with_the_hold_and_bad_input_is_refused(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer
) -> None:
    _order, p = await _pay_link(runtime, deps)
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        r = await http.post(f"/pay/{p.pay_token}/charge", json={"payment_method": "4242 4242"})
        assert r.status_code == 422 and r.json()["type"].endswith("/validation-error")
        r = await http.post(f"/pay/{p.pay_token}/charge", content=b"{not json")
        assert r.status_code == 400
        r = await http.get("/pay/not-a-real-token")
        assert r.status_code == 404
        pay_server.runtime.clock.advance(minutes=runtime.settings.hold_minutes + 1)
        try:
            page = await http.get(f"/pay/{p.pay_token}", headers={"Accept-Language": "en"})
            r = await http.post(f"/pay/{p.pay_token}/charge", json={"payment_method": "pm_1"})
        finally:
            pay_server.runtime.clock.reset()
        # The hold lapsed: the order is expired even before the expiry job marks it so.
        assert page.status_code == 409 and "can no longer be paid" in page.text
        assert r.status_code == 409 and r.json()["type"].endswith("/order-not-payable")
    assert (await _payment(runtime, p.id)).status == "pending"


async def test_event_for_an_intent_stripe_does_not_know_is_acknowledged_once(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    """Stripe answers 404 resource_missing to the re-fetch: 200 "ignored" (not a 503 Stripe
    would retry for days, nor its message echoed), then "duplicate"; the order stays unpaid."""
    order, p = await _pay_link(runtime, deps)
    ev = event(
        "payment_intent.succeeded",
        {"id": "pi_does_not_exist", "object": "payment_intent", "metadata": {"payment_id": p.id}},
    )
    outcomes = []
    async with httpx.AsyncClient(base_url=pay_server.url) as http:
        for _ in range(2):
            body, sig = signed(localstripe.webhook_secret, ev)
            r = await http.post(
                "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": sig}
            )
            assert r.status_code == 200, r.text
            outcomes.append(r.json()["outcome"])
    assert outcomes == ["ignored", "duplicate"]
    assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 1
    assert await order_status(runtime, order.id) == "awaiting_payment"
