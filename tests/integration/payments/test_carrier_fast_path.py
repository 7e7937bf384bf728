"""The one-statement carrier charge (payments/carrier_pg.py) against the plain path
(service.start_payment): the same rows for the same charge, and nothing written whenever it
declines (the plain path then answers)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

import commerce
from core.idempotency import Completion
from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from payments import PaymentDeps, carrier, carrier_pg, start_payment
from payments.models import (
    LedgerEntry,
    LedgerTransaction,
    Payment,
    PaymentHistory,
    PhoneAccount,
    PhoneAccountMovement,
)
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, place_order

# Columns that name this very charge (ids, keys, who) rather than what was written.
OWN = {"id", "order_id", "order_number", "customer_id", "request_key", "payment_id", "actor",
       "transaction_id", "account_id", "phone_account_id", "reference", "memo"}  # fmt: skip


def _deps() -> PaymentDeps:
    return PaymentDeps(orders=CommerceOrders(), gateway=None, public_base_url="http://x")


async def _payable(runtime: Runtime, *, balance: int = 10**6) -> tuple[Any, Principal]:
    order = await place_order(runtime, price=12800)
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s, order.customer_id, currency="CNY", now=runtime.clock.now(), balance=balance
        )
    return order, Principal("customer", order.customer_id, frozenset())


def _shape(obj: Any) -> dict[str, Any]:
    return {c.name: getattr(obj, c.key) for c in obj.__table__.columns if c.name not in OWN}


async def _written(runtime: Runtime, order_id: str) -> dict[str, Any]:
    """Everything a charge of this order wrote, without what names the charge itself."""
    async with runtime.sessions() as s:
        pay = (await s.scalars(select(Payment).where(Payment.order_id == order_id))).all()
        ids = [p.id for p in pay]
        txns = (
            await s.scalars(
                select(LedgerTransaction)
                .where(LedgerTransaction.order_id == order_id)
                .order_by(LedgerTransaction.kind)
            )
        ).all()
        entries = (
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.transaction_id.in_([t.id for t in txns]))
                .order_by(LedgerEntry.account)
            )
        ).all()
        history = (
            await s.scalars(select(PaymentHistory).where(PaymentHistory.payment_id.in_(ids)))
        ).all()
        moves = (
            await s.scalars(
                select(PhoneAccountMovement).where(
                    PhoneAccountMovement.reference.in_([f"payment:{i}" for i in ids])
                )
            )
        ).all()
        order = await commerce.get_order(s, order_id)
        account = await s.scalar(
            select(PhoneAccount).where(PhoneAccount.customer_id == order.customer_id)
        )
        events = [
            (e.from_status, e.to_status, e.actor.split(":")[0], e.channel, e.reason.split(" ")[2:])
            for e in await commerce.order_history(s, order_id)
        ]
        outbox = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "order.paid"))
        ).all()
        paid_messages = sum(1 for m in outbox if m.payload == {"order_id": order_id})
    return {
        "payments": [_shape(p) for p in pay],
        "history": [_shape(h) for h in history],
        "movements": [_shape(m) for m in moves],
        "ledger": [_shape(t) for t in txns],
        "entries": [_shape(e) for e in entries],
        "order": (order.status, order.updated_at),
        "events": events,
        "account": (account.balance, account.version) if account else None,
        "order_paid_messages": paid_messages,
        "moves_account": {m.account_id for m in moves} == {account.id} if account else None,
        "payment_account": [p.phone_account_id == (account.id if account else None) for p in pay],
    }


async def test_fast_and_plain_paths_write_the_same(runtime: Runtime) -> None:
    assert runtime.drivers is not None, "the fast path is PostgreSQL's"
    now = runtime.clock.now()
    fast_order, fast_who = await _payable(runtime)
    plain_order, plain_who = await _payable(runtime)
    key = uuid.uuid4().hex

    fast = await carrier_pg.charge(
        runtime.drivers, fast_order.id, principal=fast_who, request_key=key, now=now,
        respond=lambda p: None,
    )  # fmt: skip
    assert fast is not None and fast.status == "succeeded"
    async with runtime.sessions() as s, s.begin():
        plain = await start_payment(
            s, _deps(), plain_order.id, "carrier_billing", principal=plain_who,
            request_key=key, now=now,
        )  # fmt: skip
    assert plain.status == "succeeded"
    fast_rows, plain_rows = (
        await _written(runtime, fast_order.id),
        await _written(runtime, plain_order.id),
    )
    assert fast_rows == plain_rows
    assert fast_rows["order"][0] == "paid" and fast_rows["order_paid_messages"] == 1
    assert len(fast_rows["entries"]) >= 4 and sum(e["amount"] for e in fast_rows["entries"]) == 0
    async with runtime.sessions() as s:
        stored = await s.get_one(Payment, fast.id)
        assert stored.request_key == f"carrier_billing:{fast_order.id}:{key}"
        assert stored.actor == fast_who.actor


async def test_the_stored_response_commits_with_the_charge(runtime: Runtime) -> None:
    from core import idempotency

    assert runtime.drivers is not None
    now = runtime.clock.now()
    order, who = await _payable(runtime)
    claim = await idempotency.claim(
        runtime.sessions, scope=f"t:{uuid.uuid4().hex}", key="k", fingerprint="f", now=now
    )

    def respond(p: carrier_pg.Charged) -> Completion:
        return idempotency.completion(claim, status=201, body={"id": p.id}, resource_id=p.id)

    p = await carrier_pg.charge(
        runtime.drivers, order.id, principal=who, request_key="k", now=now, respond=respond
    )
    assert p is not None
    again = await idempotency.claim(
        runtime.sessions, scope=claim.scope, key="k", fingerprint="f", now=now
    )
    assert again.replay is not None and again.replay.body == {"id": p.id}


@pytest.mark.parametrize("case", ["no_account", "no_credit", "someone_else", "paid", "same_key"])
async def test_declines_write_nothing(runtime: Runtime, case: str) -> None:
    """Every case the function does not take returns None with nothing written; the plain
    path then decides (404, 402, 409 or the earlier payment)."""
    assert runtime.drivers is not None
    now = runtime.clock.now()
    if case == "no_account":
        order = await place_order(runtime, price=12800)
        who = Principal("customer", order.customer_id, frozenset())
    else:
        order, who = await _payable(runtime, balance=100 if case == "no_credit" else 10**6)
    if case == "someone_else":
        who = Principal("customer", uuid.uuid4().hex, frozenset())
    if case in ("paid", "same_key"):
        async with runtime.sessions() as s, s.begin():
            await start_payment(
                s, _deps(), order.id, "carrier_billing", principal=AGENT if case == "paid" else who,
                request_key="first", now=now,
            )  # fmt: skip
    before = await _written(runtime, order.id)
    got = await carrier_pg.charge(
        runtime.drivers, order.id, principal=who,
        request_key="first" if case == "same_key" else "second", now=now, respond=lambda p: None,
    )  # fmt: skip
    assert got is None
    assert await _written(runtime, order.id) == before


async def test_concurrent_charges_of_one_order_take_it_once(runtime: Runtime) -> None:
    """A double click with two keys: the account's row lock serialises them and the second
    finds the order paid, so it declines (the plain path then answers 409)."""
    import asyncio

    drivers = runtime.drivers
    assert drivers is not None
    now = runtime.clock.now()
    order, who = await _payable(runtime)
    got = await asyncio.gather(
        *(
            carrier_pg.charge(
                drivers,
                order.id,
                principal=who,
                request_key=f"k{i}",
                now=now,
                respond=lambda p: None,
            )
            for i in range(8)
        )
    )
    assert sum(p is not None for p in got) == 1
    rows = await _written(runtime, order.id)
    assert len(rows["payments"]) == 1 and len(rows["movements"]) == 1
    assert rows["account"] == (10**6 - rows["payments"][0]["amount"], 1)  # debited once
