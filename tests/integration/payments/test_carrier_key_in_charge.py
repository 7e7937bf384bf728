"""The one-statement carrier charge claiming its Idempotency-Key in its own transaction
(migration 0017): the key row it writes is the one the plain way (claim, then complete in the
work's transaction) writes; a declined charge leaves no key behind; a key seen before, or
racing, declines so the plain way answers; over HTTP a replay gets the stored response and the
same key with another body is refused."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from core import idempotency
from core.db import new_id
from core.idempotency import IdempotencyRecord, KeyedRequest
from core.principal import Principal
from core.runtime import Runtime
from payments import carrier, carrier_pg
from payments.models import Payment, PhoneAccount
from tests.integration.payments.helpers import place_order
from tests.integration.payments.test_payments_http import _customer, _order_for
from tests.stripe_fixtures import LiveServer

# What names the record itself rather than what was stored.
OWN = {"id", "scope", "key", "resource_id", "response_body"}


async def _payable(runtime: Runtime, *, balance: int = 10**6) -> tuple[Any, Principal]:
    order = await place_order(runtime, price=12800)
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s, order.customer_id, currency="CNY", now=runtime.clock.now(), balance=balance
        )
    return order, Principal("customer", order.customer_id, frozenset())


def _keyed() -> KeyedRequest:
    return KeyedRequest(scope=f"t:{uuid.uuid4().hex}", key="k", fingerprint="f")


async def _charge(
    runtime: Runtime, order: Any, who: Principal, keyed: KeyedRequest, now: Any = None
) -> Any:
    assert runtime.drivers is not None
    claim = idempotency.Claim(new_id(), keyed.scope, keyed.key)
    return await carrier_pg.charge(
        runtime.drivers, order.id, principal=who, request_key=keyed.key,
        now=now or runtime.clock.now(), keyed=keyed,
        respond=lambda p: idempotency.completion(
            claim, status=201, body={"id": p.id}, resource_id=p.id
        ),
    )  # fmt: skip


async def _record(runtime: Runtime, scope: str) -> IdempotencyRecord | None:
    async with runtime.sessions() as s:
        return await s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope))


def _shape(r: IdempotencyRecord) -> dict[str, Any]:
    return {c.name: getattr(r, c.key) for c in r.__table__.columns if c.name not in OWN}


async def test_the_key_row_is_the_plain_ways(runtime: Runtime) -> None:
    now = runtime.clock.now()
    order, who = await _payable(runtime)
    keyed = _keyed()
    p = await _charge(runtime, order, who, keyed, now)
    assert p is not None and p.status == "succeeded"

    plain = _keyed()
    claim = await idempotency.claim(
        runtime.sessions, scope=plain.scope, key=plain.key, fingerprint=plain.fingerprint, now=now
    )
    async with runtime.sessions() as s, s.begin():
        await idempotency.complete(
            s, claim, status=201, body={"id": p.id}, resource_id=p.id, now=now
        )
    fast_row, plain_row = await _record(runtime, keyed.scope), await _record(runtime, plain.scope)
    assert fast_row is not None and plain_row is not None
    assert _shape(fast_row) == _shape(plain_row)
    assert fast_row.response_body == {"id": p.id} and fast_row.resource_id == p.id
    again = await idempotency.claim(
        runtime.sessions, scope=keyed.scope, key=keyed.key, fingerprint=keyed.fingerprint, now=now
    )
    assert again.replay is not None and again.replay.body == {"id": p.id}


async def test_a_declined_charge_leaves_no_key(runtime: Runtime) -> None:
    order, who = await _payable(runtime, balance=100)  # no credit for 12800
    keyed = _keyed()
    assert await _charge(runtime, order, who, keyed) is None
    assert await _record(runtime, keyed.scope) is None


async def test_a_key_seen_before_declines_and_writes_nothing(runtime: Runtime) -> None:
    order, who = await _payable(runtime)
    keyed = _keyed()
    await idempotency.claim(
        runtime.sessions, scope=keyed.scope, key=keyed.key, fingerprint="other",
        now=runtime.clock.now(),
    )  # fmt: skip
    assert await _charge(runtime, order, who, keyed) is None
    async with runtime.sessions() as s:
        assert (await s.scalars(select(Payment).where(Payment.order_id == order.id))).all() == []
    record = await _record(runtime, keyed.scope)
    assert record is not None and record.state == idempotency.IN_PROGRESS


async def test_racing_one_key_charges_once(runtime: Runtime) -> None:
    """Four orders of one customer, one key: the first INSERT of the key wins, the others wait
    for its commit and decline, so one order is paid and the account debited once."""
    who = Principal("customer", uuid.uuid4().hex, frozenset())
    orders = [await _order_for(runtime, who.id) for _ in range(4)]
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s, who.id, currency="CNY", now=runtime.clock.now(), balance=10**6
        )
    keyed = _keyed()
    got = await asyncio.gather(*(_charge(runtime, o, who, keyed) for o in orders))
    assert sum(p is not None for p in got) == 1
    async with runtime.sessions() as s:
        account = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == who.id))
        assert account is not None and account.version == 1
        assert account.balance == 10**6 - orders[0].total


async def test_http_replay_and_conflict(runtime: Runtime, pay_server: LiveServer) -> None:
    customer, as_customer = await _customer(runtime)
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s, customer.id, currency="CNY", now=runtime.clock.now(), balance=10**6
        )
    order = await _order_for(runtime, customer.id)
    pay = f"/v1/orders/{order.id}/payments"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    async with httpx.AsyncClient(base_url=pay_server.url, timeout=20) as http:
        r = await http.post(pay, json={"method": "carrier_billing"}, headers={**as_customer, **key})
        assert r.status_code == 201, r.text
        first = r.json()
        assert first["status"] == "succeeded"
        r = await http.post(pay, json={"method": "carrier_billing"}, headers={**as_customer, **key})
        assert r.status_code == 201 and r.json() == first
        assert r.headers.get("Idempotent-Replayed") == "true"
        r = await http.post(pay, json={"method": "card"}, headers={**as_customer, **key})
        assert r.status_code == 422 and r.json()["type"].endswith("/idempotency-conflict"), r.text
    async with runtime.sessions() as s:
        paid = (await s.scalars(select(Payment).where(Payment.order_id == order.id))).all()
        account = await s.scalar(
            select(PhoneAccount).where(PhoneAccount.customer_id == customer.id)
        )
    assert [p.id for p in paid] == [first["id"]]
    assert account is not None and account.balance == 10**6 - order.total
