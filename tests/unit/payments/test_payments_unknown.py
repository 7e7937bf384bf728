"""Timeouts and 5xx leave attempts `unknown`; the sweeper settles them with the same
idempotency key, so nothing is charged or refunded twice and nothing is lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from core.principal import Principal
from payments import charge_card, refund_order, start_payment, sweep_once
from payments.models import LedgerTransaction, Payment, PaymentIncident, Refund
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

AGENT = Principal("agent", "a1", frozenset({"agent", "supervisor"}))


async def _card_payment(sessions, deps, orders, gateway, *, fault: str | None = None):  # type: ignore[no-untyped-def]
    o = orders.add(order(uuid.uuid4().hex))
    now = datetime.now(UTC)
    async with sessions() as s, s.begin():
        p = await start_payment(s, deps, o.id, "card", principal=AGENT, request_key="k", now=now)
    if fault:
        gateway.faults.append(fault)
    p, _ = await charge_card(sessions, deps, p.pay_token, "pm_card_visa", now=now)
    return o, p


async def _count(sessions, model, *where):  # type: ignore[no-untyped-def]
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


async def test_lost_answer_on_create_is_settled_once() -> None:
    for fault in ("after", "before"):
        async with sqlite_sessions() as sessions:
            gateway, orders = FakeGateway(), MemoryOrders()
            deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
            o, p = await _card_payment(sessions, deps, orders, gateway, fault=fault)
            assert p.status == "unknown"
            assert gateway.charges == (1 if fault == "after" else 0)
            assert await sweep_once(sessions, deps, datetime.now(UTC)) == 1
            assert await sweep_once(sessions, deps, datetime.now(UTC)) == 0
            async with sessions() as s:
                row = await s.get_one(Payment, p.id)
            assert row.status == "succeeded" and row.intent_id is not None
            assert gateway.charges == 1, "one charge, never two"
            assert set(gateway.keys_seen) == {f"pi:{p.id}"}
            assert orders.paid == {o.id: 1}
            assert (
                await _count(sessions, LedgerTransaction, LedgerTransaction.kind == "capture") == 1
            )


async def test_lost_answer_on_refund_is_settled_once() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o, p = await _card_payment(sessions, deps, orders, gateway)
        gateway.faults.append("after")
        r = await refund_order(
            sessions,
            deps,
            o.id,
            4000,
            reason="changed plans",
            ticket_id=None,
            actor=AGENT.actor,
            request_key="r1",
            now=datetime.now(UTC),
        )
        assert r.status == "unknown"
        assert await sweep_once(sessions, deps, datetime.now(UTC)) == 1
        async with sessions() as s:
            assert (await s.get_one(Refund, r.id)).status == "succeeded"
            assert (await s.get_one(Payment, p.id)).refunded_amount == 4000
        assert gateway.refunded[p.intent_id] == 4000
        assert gateway.keys_seen.count(f"refund:{r.id}") == 2
        assert await _count(sessions, LedgerTransaction, LedgerTransaction.kind == "refund") == 1


async def test_idempotency_keys_on_every_write() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o, p = await _card_payment(sessions, deps, orders, gateway)
        r = await refund_order(
            sessions,
            deps,
            o.id,
            None,
            reason="r",
            ticket_id=None,
            actor=AGENT.actor,
            request_key="x",
            now=datetime.now(UTC),
        )
        assert gateway.keys_seen == [f"pi:{p.id}", f"refund:{r.id}"]


async def test_paid_after_hold_lapsed_without_capacity_is_refunded_and_recorded() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders(outcome="rehold_failed")
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        _o, p = await _card_payment(sessions, deps, orders, gateway)
        async with sessions() as s:
            row = await s.get_one(Payment, p.id)
            assert row.status == "succeeded" and row.refunded_amount == row.amount
            kinds = list(
                await s.scalars(
                    select(PaymentIncident.kind).where(PaymentIncident.payment_id == p.id)
                )
            )
        assert kinds == ["auto_refund"]
        assert gateway.refunded[row.intent_id] == row.amount


async def test_second_payment_for_a_paid_order_is_refunded() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o = orders.add(order(uuid.uuid4().hex))
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            p1 = await start_payment(
                s, deps, o.id, "card", principal=AGENT, request_key="1", now=now
            )
            p2 = await start_payment(
                s, deps, o.id, "card", principal=AGENT, request_key="2", now=now
            )
        for p in (p1, p2):
            await charge_card(sessions, deps, p.pay_token, "pm_card_visa", now=now)
        async with sessions() as s:
            second = await s.get_one(Payment, p2.id)
        assert second.status == "succeeded" and second.refunded_amount == second.amount
        assert orders.paid == {o.id: 1}


async def test_carrier_charge_is_idempotent_and_402_writes_nothing() -> None:
    from payments import carrier
    from payments.errors import InsufficientCredit
    from payments.models import PhoneAccount

    async with sqlite_sessions() as sessions:
        orders = MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=None, public_base_url="http://t")
        customer = uuid.uuid4().hex
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            await carrier.open_account(s, customer, currency="CNY", now=now, balance=12000)
        o = orders.add(order(customer, 10000, 500))
        ids = set()
        for _ in range(2):
            async with sessions() as s, s.begin():
                p = await start_payment(
                    s, deps, o.id, "carrier_billing", principal=AGENT, request_key="same", now=now
                )
                ids.add(p.id)
        assert len(ids) == 1 and orders.paid == {o.id: 1}
        broke = orders.add(order(customer, 10000, 500))
        try:
            async with sessions() as s, s.begin():
                await start_payment(
                    s, deps, broke.id, "carrier_billing", principal=AGENT, request_key="b", now=now
                )
            raise AssertionError("expected 402")
        except InsufficientCredit:
            pass
        async with sessions() as s:
            acct = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == customer))
            assert acct is not None and acct.balance == 12000 - 10500
        assert await _count(sessions, Payment, Payment.order_id == broke.id) == 0


async def test_webhook_when_stripe_is_unreachable_is_503_and_retried() -> None:
    import pytest

    from payments import handle_event
    from payments.errors import PaymentOutcomeUnknown
    from payments.models import WebhookReceipt

    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        _o, p = await _card_payment(sessions, deps, orders, gateway)
        async with sessions() as s:
            intent_id = (await s.get_one(Payment, p.id)).intent_id
        ev = {
            "id": "evt_1",
            "type": "payment_intent.succeeded",
            "data": {"object": {"id": intent_id, "metadata": {"payment_id": p.id}}},
        }
        gateway.faults.append("before")
        with pytest.raises(PaymentOutcomeUnknown) as outage:
            await handle_event(sessions, deps, ev, now=datetime.now(UTC))
        assert "timeout" not in outage.value.detail, "the gateway's own words stay in the log"
        assert int(outage.value.headers["Retry-After"]) > 0
        assert await _count(sessions, WebhookReceipt) == 0, "the retry is processed"
        assert await handle_event(sessions, deps, ev, now=datetime.now(UTC)) == "settled"


async def test_unused_pay_link_is_cancelled_after_the_hold() -> None:
    from datetime import timedelta

    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o = orders.add(order(uuid.uuid4().hex))
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            p = await start_payment(
                s, deps, o.id, "card", principal=AGENT, request_key="k", now=now
            )
        assert await sweep_once(sessions, deps, now) == 0
        assert await sweep_once(sessions, deps, now + timedelta(minutes=16)) == 1
        async with sessions() as s:
            assert (await s.get_one(Payment, p.id)).status == "canceled"
        assert gateway.charges == 0


async def test_ledger_csv_lists_balanced_lines_in_the_window() -> None:
    import csv
    import io
    from datetime import timedelta
    from decimal import Decimal

    from payments import ledger

    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o, _p = await _card_payment(sessions, deps, orders, gateway)
        now = datetime.now(UTC)
        async with sessions() as s:
            lines = ledger.export_lines(s, start=now - timedelta(hours=1), end=None, zone=UTC)
            text = "".join([x async for x in lines])
            later = ledger.export_lines(s, start=now + timedelta(hours=1), end=None, zone=UTC)
            empty = "".join([x async for x in later])
        assert text.startswith("\ufeff")  # Excel reads UTF-8 only with the byte-order mark
        rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
        assert {r["kind"] for r in rows} == {"sale", "capture"}
        debit = sum(Decimal(r["debit"]) for r in rows)
        assert debit == sum(Decimal(r["credit"]) for r in rows)
        captured = sum(Decimal(r["debit"]) for r in rows if r["kind"] == "capture")
        assert captured * 100 == o.total  # major units
        assert empty.count("\n") == 1  # header only
