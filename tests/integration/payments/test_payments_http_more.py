"""More of the payments HTTP surface on the live server: 402 insufficient-credit, refunds with a
ticket id and their Idempotency-Key replay, the supervisors' incident list, a top-up for no
such customer (404)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

import ticketing
from core.principal import Principal
from core.runtime import Runtime
from payments.models import Payment, PhoneAccount, PhoneAccountMovement, Refund
from payments.service import incident
from tests.integration.payments.test_payments_http import _agent, _customer, _order_for
from tests.stripe_fixtures import LiveServer


async def _top_up(
    http: httpx.AsyncClient,
    admin: dict[str, str],
    customer_id: str,
    amount: int,
    credit_limit: int = 0,
) -> None:
    r = await http.post(
        f"/v1/admin/phone-accounts/{customer_id}/top-ups",
        json={"amount": amount, "reference": uuid.uuid4().hex, "credit_limit": credit_limit},
        headers=admin,
    )
    assert r.status_code == 200, r.text


async def test_carrier_402_then_refund_with_ticket_and_replay(
    runtime: Runtime, pay_server: LiveServer
) -> None:
    customer, as_customer = await _customer(runtime)
    as_admin = await _agent(runtime, "admin")
    as_super = await _agent(runtime, "agent", "supervisor")
    order = await _order_for(runtime, customer.id)
    pay = f"/v1/orders/{order.id}/payments"
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        await _top_up(http, as_admin, customer.id, order.total - 1)
        r = await http.post(
            pay,
            json={"method": "carrier_billing"},
            headers={**as_customer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 402, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["type"].endswith("/insufficient-credit") and problem["status"] == 402
        async with runtime.sessions() as s:
            assert await s.scalar(select(Payment.id).where(Payment.order_id == order.id)) is None, (
                "a refused charge writes nothing"
            )

        await _top_up(http, as_admin, customer.id, 1)
        r = await http.post(
            pay,
            json={"method": "carrier_billing"},
            headers={**as_customer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text

        refunds = f"/v1/orders/{order.id}/refunds"
        key = {"Idempotency-Key": uuid.uuid4().hex}
        # The ticket a refund names must exist and be linked to the order (else 422).
        async with runtime.sessions() as s, s.begin():
            ticket = await ticketing.open_ticket(
                s,
                Principal("agent", uuid.uuid4().hex),
                now=runtime.clock.now(),
                category="billing",
                subject="Seat moved",
                description="refund the difference",
                customer_id=customer.id,
                order_ids=[order.id],
            )
        body = {"amount": 1500, "reason": "seat moved", "ticket_id": ticket.id}
        r = await http.post(refunds, json=body, headers={**as_super, **key})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["ticket_id"] == ticket.id and first["amount"]["amount"] == 1500
        async with runtime.sessions() as s:
            stored = await s.get_one(Refund, first["id"])
        assert stored.ticket_id == ticket.id and stored.reason == "seat moved"

        r = await http.post(refunds, json=body, headers={**as_super, **key})
        assert r.status_code == 201 and r.json() == first, "the replay is the first answer"
        r = await http.post(refunds, json={**body, "amount": 1600}, headers={**as_super, **key})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        async with runtime.sessions() as s:
            row = await s.scalar(select(Payment).where(Payment.order_id == order.id))
        assert row is not None
        assert row.refunded_amount == 1500, "neither the replay nor the conflict refunded again"


async def test_incidents_listed_for_supervisors_and_finance(
    runtime: Runtime, pay_server: LiveServer
) -> None:
    customer, as_customer = await _customer(runtime)
    as_admin = await _agent(runtime, "admin")
    as_agent = await _agent(runtime, "agent")
    as_super = await _agent(runtime, "agent", "supervisor")
    as_finance = await _agent(runtime, "finance")
    order = await _order_for(runtime, customer.id)
    kind = f"t{uuid.uuid4().hex[:20]}"
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        await _top_up(http, as_admin, customer.id, order.total)
        r = await http.post(
            f"/v1/orders/{order.id}/payments",
            json={"method": "carrier_billing"},
            headers={**as_customer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        now = runtime.clock.now()
        async with runtime.sessions() as s, s.begin():
            p = await s.get_one(Payment, pid)
            for n in range(3):
                incident(s, p, kind, f"case {n}", now)

        url = "/v1/payments/incidents"
        for who in (as_customer, as_agent):
            assert (await http.get(url, headers=who)).status_code == 403
        seen: list[str] = []
        cursor = None
        for _ in range(3):
            params = {"limit": 2, "kind": kind, **({"cursor": cursor} if cursor else {})}
            r = await http.get(url, params=params, headers=as_super)
            assert r.status_code == 200, r.text
            page = r.json()
            seen += [i["detail"] for i in page["items"]]
            assert all(i["payment_id"] == pid and i["order_id"] == order.id for i in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == ["case 0", "case 1", "case 2"]
        r = await http.get(url, params={"kind": kind}, headers=as_finance)
        assert r.status_code == 200 and len(r.json()["items"]) == 3
        # a foreign cursor and a limit out of range are both validation errors (422)
        cases = (({"cursor": "nonsense"}, "cursor", 422), ({"limit": 0}, "limit", 422))
        for bad, field, status in cases:
            r = await http.get(url, params=bad, headers=as_super)
            assert r.status_code == status, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in r.json()["errors"]] == [field]
            assert r.headers["content-type"].startswith("application/problem+json")


async def test_top_up_for_no_such_customer_is_404_and_opens_no_account(
    runtime: Runtime, pay_server: LiveServer
) -> None:
    as_admin = await _agent(runtime, "admin")
    ghost, reference = f"ghost{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        r = await http.post(
            f"/v1/admin/phone-accounts/{ghost}/top-ups",
            json={"amount": 100, "reference": reference, "credit_limit": 5000},
            headers=as_admin,
        )
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert ghost in r.json()["detail"]
    async with runtime.sessions() as s:
        assert (
            await s.scalar(select(PhoneAccount.id).where(PhoneAccount.customer_id == ghost)) is None
        )
        moved = select(PhoneAccountMovement.id).where(PhoneAccountMovement.reference == reference)
        assert await s.scalar(moved) is None


async def test_a_refund_reason_past_300_characters_is_422_not_cut(
    runtime: Runtime, pay_server: LiveServer
) -> None:
    """refunds.reason is varchar(300): a longer reason was stored cut to fit; now it is a 422
    naming `reason` and its limit, nothing is refunded, and 300 characters are kept whole."""
    customer, as_customer = await _customer(runtime)
    as_admin = await _agent(runtime, "admin")
    as_super = await _agent(runtime, "agent", "supervisor")
    order = await _order_for(runtime, customer.id)
    refunds = f"/v1/orders/{order.id}/refunds"
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        await _top_up(http, as_admin, customer.id, order.total)
        r = await http.post(
            f"/v1/orders/{order.id}/payments",
            json={"method": "carrier_billing"},
            headers={**as_customer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        for too_long in ("r" * 301, "退" * 3000):
            r = await http.post(
                refunds,
                json={"amount": 100, "reason": too_long},
                headers={**as_super, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert r.status_code == 422, r.text
            assert r.json()["errors"] == [{"field": "reason", "message": "at most 300 characters"}]
        async with runtime.sessions() as s:
            assert await s.scalar(select(Refund.id).where(Refund.order_id == order.id)) is None
            paid = await s.scalar(select(Payment).where(Payment.order_id == order.id))
            assert paid is not None and paid.refunded_amount == 0
        r = await http.post(
            refunds,
            json={"amount": 100, "reason": "退" * 300},
            headers={**as_super, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201 and r.json()["reason"] == "退" * 300, r.text
