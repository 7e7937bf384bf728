"""The payments routes behind the auth room's guards, over HTTP against the live server:
who may do what, Idempotency-Key required and replayed, refunds capped, ledger CSV."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx

import auth
from core.runtime import Runtime
from tests.integration.payments.helpers import order_status
from tests.stripe_fixtures import LiveServer


def _bearer(token: tuple[str, int] | str) -> dict[str, str]:
    value = token[0] if isinstance(token, tuple) else token
    return {"Authorization": f"Bearer {value}"}


async def _customer(runtime: Runtime) -> tuple[Any, dict[str, str]]:
    async with runtime.sessions() as s, s.begin():
        c = await auth.create_customer(
            runtime, s, phone=f"+86139{random.randint(10**7, 10**8 - 1)}", name="测试"
        )
    return c, _bearer(auth.customer_token(runtime, c))


async def _agent(runtime: Runtime, *roles: str) -> dict[str, str]:
    async with runtime.sessions() as s, s.begin():
        a = await auth.create_agent(
            runtime,
            s,
            username=f"pay{uuid.uuid4().hex[:10]}",
            password=f"Pw-{uuid.uuid4().hex}",
            roles=roles,
        )
    return _bearer(auth.agent_token(runtime, a))


async def _order_for(runtime: Runtime, customer_id: str) -> Any:
    from datetime import timedelta

    import commerce
    from core.money import Money

    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="train",
            title="G1 北京南 -> 上海虹桥",
            venue="北京南",
            starts_at=now + timedelta(days=3),
            price=Money(55300, "CNY"),
            capacity=3,
            now=now,
        )
        return await commerce.place_order(
            s,
            customer_id=customer_id,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{customer_id}",
            channel="web",
            settings=runtime.settings,
            now=now,
        )


async def test_payments_routes_end_to_end(runtime: Runtime, pay_server: LiveServer) -> None:
    customer, as_customer = await _customer(runtime)
    _other, as_other = await _customer(runtime)
    as_admin = await _agent(runtime, "admin")
    as_agent = await _agent(runtime, "agent")
    as_super = await _agent(runtime, "agent", "supervisor")
    as_finance = await _agent(runtime, "finance")
    order = await _order_for(runtime, customer.id)
    pay = f"/v1/orders/{order.id}/payments"
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        body = {"method": "carrier_billing"}
        r = await http.post(pay, json=body, headers=as_customer)
        assert r.status_code == 422, "Idempotency-Key is required"
        r = await http.post(pay, json=body, headers={**as_other, "Idempotency-Key": "k1"})
        assert r.status_code == 404, "someone else's order"
        r = await http.post(pay, json=body, headers={**as_customer, "Idempotency-Key": "k1"})
        assert r.status_code == 404, r.text  # no phone account yet
        r = await http.post(
            f"/v1/admin/phone-accounts/{customer.id}/top-ups",
            json={"amount": 60000, "reference": f"r-{uuid.uuid4().hex}"},
            headers=as_agent,
        )
        assert r.status_code == 403
        r = await http.post(
            f"/v1/admin/phone-accounts/{customer.id}/top-ups",
            json={"amount": 60000, "reference": f"r-{uuid.uuid4().hex}"},
            headers=as_admin,
        )
        assert r.status_code == 200 and r.json()["balance"]["amount"] == 60000
        key = {"Idempotency-Key": uuid.uuid4().hex}
        r = await http.post(pay, json=body, headers={**as_customer, **key})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["status"] == "succeeded" and first["amount"]["amount"] == order.total
        r = await http.post(pay, json=body, headers={**as_customer, **key})
        assert r.status_code == 201 and r.json() == first
        assert await order_status(runtime, order.id) == "paid"

        refunds = f"/v1/orders/{order.id}/refunds"
        r = await http.post(
            refunds,
            json={"amount": 1000, "reason": "x"},
            headers={**as_agent, "Idempotency-Key": "a"},
        )
        assert r.status_code == 403
        r = await http.post(
            refunds, json={"amount": 1000}, headers={**as_super, "Idempotency-Key": "b"}
        )
        assert r.status_code == 422
        r = await http.post(
            refunds,
            json={"amount": 1000, "reason": "seat moved"},
            headers={**as_super, "Idempotency-Key": "c"},
        )
        assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
        r = await http.post(
            refunds,
            json={"amount": order.total, "reason": "again"},
            headers={**as_finance, "Idempotency-Key": "d"},
        )
        assert r.status_code == 409 and r.json()["type"].endswith("/refund-exceeds-captured")

        r = await http.get("/v1/finance/ledger.csv", headers=as_agent)
        assert r.status_code == 403
        r = await http.get("/v1/finance/ledger.csv", headers=as_finance)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert order.id in r.text and "refunds" in r.text
        r = await http.get("/v1/finance/ledger.csv?from=yesterday", headers=as_finance)
        assert r.status_code == 422

        card_order = await _order_for(runtime, customer.id)
        r = await http.post(
            f"/v1/orders/{card_order.id}/payments",
            json={"method": "card"},
            headers={**as_customer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        pay_url = r.json()["pay_url"]
        assert pay_url.startswith(f"{pay_server.url}/pay/")
        from sqlalchemy import select

        from core.sms import SmsMessage  # the demo sink: the pay link went out by SMS

        async with runtime.sessions() as s:
            sent = list(
                await s.scalars(
                    select(SmsMessage.body).where(
                        SmsMessage.to == customer.phone, SmsMessage.purpose == "pay_link"
                    )
                )
            )
        assert any(pay_url in body and card_order.number in body for body in sent), sent
        r = await http.get(f"/v1/orders/{card_order.id}/payments", headers=as_other)
        assert r.status_code == 404
        r = await http.get(f"/v1/orders/{card_order.id}/payments", headers=as_customer)
        assert [p["method"] for p in r.json()["items"]] == ["card"]
