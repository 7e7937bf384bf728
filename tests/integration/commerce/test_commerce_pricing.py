"""Pricing settings: the e-ticket delivery fee is configurable (free by default), and offers
are priced only in the service's currency (HOTLINE_CURRENCY)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

import commerce
from commerce import LineRequest
from core.errors import ValidationFailed
from core.money import Money
from core.runtime import Runtime
from tests.integration.commerce.helpers import make_offer, new_customer

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("eticket_fee", [0, 300])
async def test_e_ticket_delivery_costs_the_configured_fee(rt: Runtime, eticket_fee: int) -> None:
    offer = await make_offer(rt, capacity=4, price=68000)
    customer = await new_customer(rt)
    settings = replace(rt.settings, eticket_fee=eticket_fee)
    async with rt.sessions() as session, session.begin():
        order = await commerce.place_order(
            session,
            customer_id=customer,
            lines=[LineRequest(offer.id, 2)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{customer}",
            channel="web",
            settings=settings,
            now=rt.clock.now(),
        )
    assert order.delivery_fee == eticket_fee
    assert order.total == order.subtotal + order.booking_fee + order.delivery_fee
    assert order.total == 136000 + settings.booking_fee + eticket_fee


async def test_an_offer_in_another_currency_is_422_naming_the_field(
    client: Any, rt: Runtime, admin: Any
) -> None:
    title = f"USD offer {uuid.uuid4().hex}"
    body = {
        "kind": "flight",
        "title": title,
        "venue": "SHA -> SFO",
        "starts_at": "2031-03-01T12:00:00+08:00",
        "price": {"amount": 89900, "currency": "USD"},
        "capacity": 10,
    }
    r = await client.post("/v1/offers", json=body, headers=admin.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert r.json()["errors"] == [
        {"field": "price.currency", "message": "offers are priced in CNY"}
    ]
    assert (await client.get("/v1/offers", params={"q": title})).json()["items"] == []
    body["price"] = {"amount": 89900, "currency": rt.settings.currency}
    assert (await client.post("/v1/offers", json=body, headers=admin.headers)).status_code == 201


async def test_create_offer_refuses_another_currency_when_told_the_services(rt: Runtime) -> None:
    now = rt.clock.now()
    async with rt.sessions() as session, session.begin():
        with pytest.raises(ValidationFailed) as err:
            await commerce.create_offer(
                session,
                kind="hotel",
                title="Hotel in dollars",
                venue="Somewhere",
                starts_at=now + timedelta(days=3),
                price=Money(10000, "USD"),
                capacity=5,
                currency="CNY",
                now=now,
            )
    assert err.value.errors == [{"field": "price.currency", "message": "offers are priced in CNY"}]
