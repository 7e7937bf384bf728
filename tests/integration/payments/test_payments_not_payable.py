"""A cancelled or expired order cannot be paid: its pay page says so (no card form, no
SetupIntent), `/charge` answers 409 problem+json and no PaymentIntent is created at the
gateway; cancelling voids the unused pay link through the `order.cancelled` consumer, expiring
through the payments sweep (the link lapses with the hold)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

import commerce
from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, start_payment, sweep_once
from payments.models import Payment
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, order_status, place_order
from tests.integration.payments.test_payments_cancellation import relay_all
from tests.stripe_fixtures import LiveServer, LocalStripe


@pytest.fixture
def deps(localstripe: LocalStripe) -> PaymentDeps:
    return PaymentDeps(
        orders=CommerceOrders(),
        gateway=StripeGateway("sk_test_hotline", api_base=localstripe.url),
        public_base_url="http://unused",
    )


def intents_for(payment_id: str) -> int:
    """PaymentIntents localstripe (in this process) holds for our payment attempt."""
    from localstripe import resources

    return sum(
        1
        for key, value in list(resources.store.items())
        if key.startswith("payment_intent:")
        and (getattr(value, "metadata", None) or {}).get("payment_id") == payment_id
    )


def page_config(html: str) -> dict[str, Any]:
    match = re.search(r"const CONFIG = (\{.*?\});", html)
    assert match is not None
    return dict(json.loads(match.group(1)))


async def pay_link(runtime: Runtime, deps: PaymentDeps) -> tuple[Any, Payment]:
    order = await place_order(runtime)
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


async def refused(server: LiveServer, ls: LocalStripe, p: Payment) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as http:
        page = await http.get(f"/pay/{p.pay_token}", headers={"Accept-Language": "en"})
        charge = await http.post(
            f"/pay/{p.pay_token}/charge",
            json={"payment_method": ls.create_card_method("4242424242424242")},
        )
    # the page speaks the customer's language (here English) and offers the next step
    assert page.status_code == 409 and "can no longer be paid" in page.text, page.text
    assert 'data-status="not_payable"' in page.text and 'href="/shop/"' in page.text
    config = page_config(page.text)
    assert config["status"] == "not_payable" and config["setup_secret"] is None
    assert charge.status_code == 409, charge.text
    assert charge.headers["content-type"].startswith("application/problem+json")
    assert charge.json()["type"].endswith("/order-not-payable")
    assert intents_for(p.id) == 0


async def test_cancelled_order_cannot_be_paid_and_its_link_is_voided(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await pay_link(runtime, deps)
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        page = await http.get(f"/pay/{p.pay_token}")  # payable: the card form is there
    assert page.status_code == 200 and page_config(page.text)["setup_secret"]
    async with runtime.sessions() as s, s.begin():
        await commerce.cancel_order(
            s, order.id, AGENT, reason="changed plans", now=runtime.clock.now()
        )
    await refused(pay_server, localstripe, p)
    await relay_all(runtime)  # order.cancelled -> payments voids the unused link
    async with runtime.sessions() as s:
        assert (await s.get_one(Payment, p.id)).status == "canceled"
    await refused(pay_server, localstripe, p)


async def test_expired_order_cannot_be_paid(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    order, p = await pay_link(runtime, deps)
    later = runtime.clock.now() + timedelta(minutes=runtime.settings.hold_minutes + 1)
    async with runtime.sessions() as s, s.begin():
        await commerce.expire_due_holds(s, later)
    assert await order_status(runtime, order.id) == "expired"
    await refused(pay_server, localstripe, p)  # the server's clock is still before the lapse
    # The link lapsed with the hold: the payments sweep (every 30 s) voids the attempt.
    await sweep_once(runtime.sessions, deps, later)
    async with runtime.sessions() as s:
        assert (await s.get_one(Payment, p.id)).status == "canceled"
    await refused(pay_server, localstripe, p)


async def test_a_payable_order_is_charged_and_counted(
    runtime: Runtime, deps: PaymentDeps, pay_server: LiveServer, localstripe: LocalStripe
) -> None:
    """The control for `intents_for`: the same steps on a payable order create one intent."""
    _order, p = await pay_link(runtime, deps)
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        r = await http.post(
            f"/pay/{p.pay_token}/charge",
            json={"payment_method": localstripe.create_card_method("4242424242424242")},
        )
    assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    assert intents_for(p.id) == 1
