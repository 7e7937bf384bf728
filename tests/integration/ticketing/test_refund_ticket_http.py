"""Refund from a ticket over HTTP: a refund naming a ticket is noted on that ticket in the
same request transaction; a ticket that does not exist, or is not linked to the refunded
order, is 422 on `ticket_id` and no money moves."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

import commerce
from core.money import Money
from core.runtime import Runtime
from payments.models import Payment, Refund
from tests.auth_fixtures import make_agent, make_customer

PROBLEM = "application/problem+json"


async def paid_order(client: Any, rt: Runtime, who: Any, admin: Any) -> str:
    now = rt.clock.now()
    async with rt.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="train",
            title=f"G1 北京南 -> 上海虹桥 {uuid.uuid4().hex[:4]}",
            venue="北京南",
            starts_at=now + timedelta(days=3),
            price=Money(55300, "CNY"),
            capacity=3,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=who.id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{who.id}",
            channel="web",
            settings=rt.settings,
            now=now,
        )
    r = await client.post(
        f"/v1/admin/phone-accounts/{who.id}/top-ups",
        json={"amount": order.total, "reference": uuid.uuid4().hex, "credit_limit": 0},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/v1/orders/{order.id}/payments",
        json={"method": "carrier_billing"},
        headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    return order.id


async def ticket_on(client: Any, who: Any, order_id: str) -> str:
    body = {"category": "billing", "subject": "Refund please", "description": "行程取消"}
    r = await client.post("/v1/tickets", json={**body, "order_id": order_id}, headers=who.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_refund_names_a_linked_ticket_or_is_422(client: Any, tk_runtime: Runtime) -> None:
    rt = tk_runtime
    me = await make_customer(rt)
    admin = await make_agent(rt, "admin")
    boss = await make_agent(rt, "agent", "supervisor")
    order_id = await paid_order(client, rt, me, admin)
    other_order = await paid_order(client, rt, me, admin)
    linked = await ticket_on(client, me, order_id)
    elsewhere = await ticket_on(client, me, other_order)
    url = f"/v1/orders/{order_id}/refunds"

    for ticket_id in ("no-such-ticket", elsewhere):
        r = await client.post(
            url,
            json={"amount": 1000, "reason": "trip cancelled", "ticket_id": ticket_id},
            headers={**boss.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert [e["field"] for e in r.json()["errors"]] == ["ticket_id"]
    async with rt.sessions() as s:
        pay = await s.scalar(select(Payment).where(Payment.order_id == order_id))
        assert pay is not None and pay.refunded_amount == 0, "a refused ticket moves no money"

    r = await client.post(
        url,
        json={"amount": 1000, "reason": "trip cancelled", "ticket_id": linked},
        headers={**boss.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code == 201, r.text
    refund = r.json()
    assert refund["ticket_id"] == linked
    view = (await client.get(f"/v1/tickets/{linked}", headers=boss.headers)).json()
    assert view["refunds"] == [refund["id"]]
    noted = [e for e in view["timeline"] if e["kind"] == "refund"]
    assert [e["after"]["refund_id"] for e in noted] == [refund["id"]]
    assert noted[0]["actor"] == f"agent:{boss.id}"
    async with rt.sessions() as s:
        stored = await s.get(Refund, refund["id"])
        assert stored is not None and stored.ticket_id == linked
    mine = (await client.get(f"/v1/tickets/{linked}", headers=me.headers)).json()
    assert not [e for e in mine["timeline"] if e["kind"] == "refund"]  # an internal entry


async def test_a_refund_is_noted_only_on_a_ticket_of_its_order(
    client: Any, tk_runtime: Runtime
) -> None:
    rt = tk_runtime
    zhang, li = await make_customer(rt), await make_customer(rt)
    admin = await make_agent(rt, "admin")
    finance = await make_agent(rt, "agent", "finance")
    li_order = await paid_order(client, rt, li, admin)
    zhang_order = await paid_order(client, rt, zhang, admin)
    refunds = []
    for order_id in (li_order, zhang_order):
        r = await client.post(
            f"/v1/orders/{order_id}/refunds",
            json={"amount": 1000, "reason": "trip cancelled"},
            headers={**finance.headers, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        refunds.append(r.json()["id"])
    li_refund, zhang_refund = refunds
    zhang_ticket = await ticket_on(client, zhang, zhang_order)
    r = await client.post(
        "/v1/tickets",
        json={"category": "billing", "subject": "s", "description": "d"},
        headers=zhang.headers,
    )
    no_order_ticket = r.json()["id"]

    for ticket_id, refund_id in (
        (zhang_ticket, li_refund),  # another customer's order
        (no_order_ticket, zhang_refund),  # a ticket with no order
        (zhang_ticket, "no-such-refund"),
    ):
        r = await client.post(
            f"/v1/tickets/{ticket_id}/refunds",
            json={"refund_id": refund_id},
            headers=finance.headers,
        )
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert [e["field"] for e in r.json()["errors"]] == ["refund_id"], r.text

    r = await client.post(  # finance decides refunds, so it may note one on the ticket
        f"/v1/tickets/{zhang_ticket}/refunds",
        json={"refund_id": zhang_refund},
        headers=finance.headers,
    )
    assert r.status_code == 201, r.text
    view = (await client.get(f"/v1/tickets/{zhang_ticket}", headers=admin.headers)).json()
    assert view["refunds"] == [zhang_refund]
