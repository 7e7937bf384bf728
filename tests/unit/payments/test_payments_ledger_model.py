"""Random sequences of orders, payments (card and carrier) and refunds through the real
service code on SQLite; the ledger's balances must equal an independent model's."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.errors import DomainError
from core.principal import Principal
from payments import carrier, charge_card, ledger, refund_order, start_payment
from payments.errors import InsufficientCredit, RefundExceedsCaptured
from payments.models import LedgerEntry, PhoneAccount
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

money = st.integers(min_value=1, max_value=50_000)
op_order = st.tuples(
    st.just("order"),
    money,
    st.sampled_from([0, 500]),
    st.sampled_from([0, 1500]),
    st.sampled_from(["card", "carrier_billing"]),
)
op_refund = st.tuples(
    st.just("refund"), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 60_000))
)
ops = st.lists(st.one_of(op_order, op_refund), min_size=1, max_size=12)


async def _run(sequence: list[tuple[Any, ...]]) -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = FakeGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        customer = uuid.uuid4().hex
        agent = Principal("agent", "a1", frozenset({"agent", "finance"}))
        start_balance, limit = 60_000, 20_000
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():
            await carrier.open_account(
                s, customer, currency="CNY", now=now, balance=start_balance, credit_limit=limit
            )
        model: dict[str, int] = defaultdict(int)
        phone = start_balance
        captured: dict[str, tuple[str, int]] = {}  # order id -> (method, total)
        refunded: dict[str, int] = defaultdict(int)
        placed: list[str] = []
        for op in sequence:
            if op[0] == "order":
                _, sub, fee, deliv, method = op
                o = orders.add(order(customer, sub, fee, deliv))
                placed.append(o.id)
                try:
                    async with sessions() as s, s.begin():
                        p = await start_payment(
                            s,
                            deps,
                            o.id,
                            method,
                            principal=agent,
                            request_key=uuid.uuid4().hex,
                            now=now,
                        )
                    if method == "card":  # the charge commits on its own, after the link
                        assert p.pay_token is not None
                        await charge_card(sessions, deps, p.pay_token, "pm_card_visa", now=now)
                except InsufficientCredit:
                    assert phone - o.total < -limit
                    continue
                captured[o.id] = (method, o.total)
                clearing = "gateway_clearing" if method == "card" else "carrier_clearing"
                model[clearing] += o.total
                model["sales_revenue"] -= sub
                model["booking_fee_revenue"] -= fee
                model["delivery_fee_revenue"] -= deliv
                if method == "carrier_billing":
                    phone -= o.total
            else:
                _, idx, amount = op
                if not placed:
                    continue
                oid = placed[idx % len(placed)]
                try:
                    await refund_order(
                        sessions,
                        deps,
                        oid,
                        amount,
                        reason="model test",
                        ticket_id=None,
                        actor=agent.actor,
                        request_key=uuid.uuid4().hex,
                        now=now,
                    )
                except (RefundExceedsCaptured, DomainError):
                    left = captured[oid][1] - refunded[oid] if oid in captured else 0
                    assert oid not in captured or (amount or left) > left or left == 0
                    continue
                method, total = captured[oid]
                value = amount if amount is not None else total - refunded[oid]
                assert refunded[oid] + value <= total
                refunded[oid] += value
                model["refunds"] += value
                clearing = "gateway_clearing" if method == "card" else "carrier_clearing"
                model[clearing] -= value
                if method == "carrier_billing":
                    phone += value
        async with sessions() as s:
            got = {a: v for (a, _c), v in (await ledger.balances(s)).items() if v}
            assert got == {a: v for a, v in model.items() if v}
            assert await s.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))) == 0
            acct = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == customer))
            assert acct is not None and acct.balance == phone
            assert acct.balance >= -acct.credit_limit
        # the gateway never took more than once per attempt, nor refunded past a charge
        assert gateway.charges == sum(1 for m, _ in captured.values() if m == "card")
        for intent in gateway.intents.values():
            assert intent.amount_refunded <= intent.amount


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_ledger_matches_an_independent_model(sequence: list[tuple[Any, ...]]) -> None:
    asyncio.run(_run(sequence))
