"""Who may book: customers for themselves, staff only with the agent or supervisor role.
An admin-only account can neither place, read nor cancel orders; a finance-only account reads
them (reconciliation) but neither places nor cancels."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import commerce
from core.errors import Forbidden, NotFound
from core.principal import Principal
from core.runtime import Runtime
from tests.auth_fixtures import make_agent
from tests.integration.commerce.helpers import available, make_offer

PROBLEM = "application/problem+json"


def _body(offer_id: str, customer_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"items": [{"offer_id": offer_id, "quantity": 1}]}
    if customer_id:
        body["customer_id"] = customer_id
    return body


async def _orders_of(rt: Runtime, customer_id: str) -> int:
    async with rt.sessions() as session:
        n = await session.scalar(
            select(func.count()).where(commerce.Order.customer_id == customer_id)
        )
        return int(n or 0)


def _forbidden(r: Any) -> bool:
    return (
        r.status_code == 403
        and r.headers["content-type"].startswith(PROBLEM)
        and r.json()["type"].endswith("/forbidden")
    )


async def test_anonymous_caller_cannot_place_an_order(
    client: Any, rt: Runtime, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=3)
    r = await client.post("/v1/orders", json=_body(offer.id, customer.id))
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    assert r.headers.get("www-authenticate") == "Bearer"
    assert await available(rt, offer.id) == 3


@pytest.mark.parametrize("role", ["finance", "admin"])
async def test_staff_without_a_booking_role_cannot_place_read_or_cancel(
    client: Any, rt: Runtime, runtime: Runtime, customer: Any, role: str
) -> None:
    offer = await make_offer(rt, capacity=3)
    staff = await make_agent(runtime, role)
    r = await client.post("/v1/orders", json=_body(offer.id, customer.id), headers=staff.headers)
    assert _forbidden(r), r.text
    assert "agent or supervisor" in r.json()["detail"]
    assert await available(rt, offer.id) == 3 and await _orders_of(rt, customer.id) == 0
    order = await client.post("/v1/orders", json=_body(offer.id), headers=customer.headers)
    order_id = order.json()["id"]
    read = await client.get(f"/v1/orders/{order_id}", headers=staff.headers)
    listed = await client.get("/v1/orders", headers=staff.headers)
    if role == "finance":  # finance reads every order, read-only
        assert read.status_code == 200 and listed.status_code == 200, read.text
    else:
        assert _forbidden(read) and _forbidden(listed)
    r = await client.post(f"/v1/orders/{order_id}/cancel", headers=staff.headers)
    assert _forbidden(r)
    assert (await client.get(f"/v1/orders/{order_id}", headers=customer.headers)).json()[
        "status"
    ] == "awaiting_payment"
    assert await available(rt, offer.id) == 2


async def test_supervisor_reads_and_cancels_anyones_order(
    client: Any, rt: Runtime, supervisor: Any, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=2)
    order = await client.post("/v1/orders", json=_body(offer.id), headers=customer.headers)
    order_id = order.json()["id"]
    r = await client.get(f"/v1/orders/{order_id}", headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["customer_id"] == customer.id
    r = await client.post(f"/v1/orders/{order_id}/cancel", headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert await available(rt, offer.id) == 2


async def test_may_see_and_listing_follow_the_booking_roles(rt: Runtime, customer: Any) -> None:
    offer = await make_offer(rt, capacity=2)
    async with rt.sessions() as session, session.begin():
        order = await commerce.place_order(
            session,
            customer_id=customer.id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{customer.id}",
            channel="web",
            settings=rt.settings,
            now=rt.clock.now(),
        )
    finance = Principal("agent", "f1", frozenset({"finance"}))
    admin = Principal("agent", "a1", frozenset({"admin"}))
    agent = Principal("agent", "g1", frozenset({"agent"}))
    async with rt.sessions() as session:
        assert not commerce.may_see(order, admin)
        with pytest.raises(NotFound):
            await commerce.get_order_for(session, order.id, admin)
        with pytest.raises(Forbidden):
            await commerce.list_orders(session, admin)
        with pytest.raises(Forbidden):
            commerce.check_order_staff(finance)  # finance never books nor cancels
        assert commerce.may_see(order, finance) and commerce.may_see(order, agent)
        assert (await commerce.get_order_for(session, order.id, finance)).id == order.id
        assert (await commerce.get_order_for(session, order.id, agent)).id == order.id
