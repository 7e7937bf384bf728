"""Claim -> commit -> call -> record: a double submit calls the gateway once and the loser gets
the state it found; a refund is reserved and committed before it is sent, and what a crash or a
refusal leaves behind is settled or released."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.errors import ValidationFailed
from core.principal import Principal
from payments import charge_card, refund_order, start_payment, sweep_once
from payments.gateway import Intent
from payments.models import Payment, Refund
from payments.refunds import reserve_order_refund
from payments.service import PaymentDeps
from tests.unit.payments.fakes import FakeGateway, MemoryOrders
from tests.unit.payments.harness import order, sqlite_sessions

AGENT = Principal("agent", "a1", frozenset({"agent", "supervisor"}))


class SlowGateway(FakeGateway):
    """Holds every create_intent until released, so a second submit arrives meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    async def create_intent(self, **kwargs: Any) -> Intent:
        self.entered.set()
        await self.release.wait()
        return await super().create_intent(**kwargs)


async def _link(sessions: Any, deps: PaymentDeps, orders: MemoryOrders) -> Any:
    o = orders.add(order(uuid.uuid4().hex))
    async with sessions() as s, s.begin():
        p = await start_payment(
            s, deps, o.id, "card", principal=AGENT, request_key="k", now=datetime.now(UTC)
        )
    return o, p


async def test_double_submit_calls_the_gateway_once_and_the_loser_gets_the_claim() -> None:
    async with sqlite_sessions() as sessions:
        gateway, orders = SlowGateway(), MemoryOrders()
        deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
        o, p = await _link(sessions, deps, orders)
        now = datetime.now(UTC)
        first = asyncio.create_task(charge_card(sessions, deps, p.pay_token, "pm_a", now=now))
        await asyncio.wait_for(gateway.entered.wait(), 5)
        # The first is at the gateway: its claim is committed and nothing is locked, so the
        # second does not wait for it; it finds the attempt taken and says so.
        loser, secret = await asyncio.wait_for(
            charge_card(sessions, deps, p.pay_token, "pm_b", now=now), 5
        )
        assert (loser.status, loser.payment_method, secret) == ("processing", "pm_a", None)
        gateway.release.set()
        winner, _ = await first
        assert winner.status == "succeeded"
        assert gateway.keys_seen == [f"pi:{p.id}"] and gateway.charges == 1
        assert orders.paid == {o.id: 1}


async def _captured(sessions: Any) -> tuple[FakeGateway, PaymentDeps, Any, Any]:
    gateway, orders = FakeGateway(), MemoryOrders()
    deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://t")
    o, p = await _link(sessions, deps, orders)
    paid, _ = await charge_card(sessions, deps, p.pay_token, "pm_card_visa", now=datetime.now(UTC))
    assert paid.status == "succeeded"
    return gateway, deps, o, paid


async def _refund(sessions: Any, deps: PaymentDeps, order_id: str, key: str) -> Refund:
    return await refund_order(
        sessions,
        deps,
        order_id,
        3000,
        reason="seat changed",
        ticket_id=None,
        actor=AGENT.actor,
        request_key=key,
        now=datetime.now(UTC),
    )


async def test_refund_refused_at_the_first_try_is_422_and_keeps_nothing() -> None:
    async with sqlite_sessions() as sessions:
        gateway, deps, o, paid = await _captured(sessions)
        gateway.refuse_refunds = 1
        with pytest.raises(ValidationFailed):
            await _refund(sessions, deps, o.id, "r1")
        async with sessions() as s:
            assert (await s.get_one(Payment, paid.id)).refunded_amount == 0
            assert await s.scalar(select(func.count()).select_from(Refund)) == 0
        again = await _refund(sessions, deps, o.id, "r1")  # the same key may try again
        assert again.status == "succeeded" and gateway.refunded[paid.intent_id] == 3000


async def test_refund_left_pending_by_a_crash_is_sent_by_the_sweeper_after_stale() -> None:
    async with sqlite_sessions() as sessions:
        gateway, deps, o, paid = await _captured(sessions)
        now = datetime.now(UTC)
        async with sessions() as s, s.begin():  # reserved and committed, then the crash
            r = await reserve_order_refund(
                s,
                deps,
                o.id,
                3000,
                reason="seat changed",
                ticket_id=None,
                actor=AGENT.actor,
                request_key="r1",
                now=now,
            )
        assert r.status == "pending"
        assert await sweep_once(sessions, deps, now) == 0  # may still be on its way
        assert await sweep_once(sessions, deps, now + timedelta(minutes=11)) == 1
        async with sessions() as s:
            assert (await s.get_one(Refund, r.id)).status == "succeeded"
            assert (await s.get_one(Payment, paid.id)).refunded_amount == 3000
        assert gateway.refunded[paid.intent_id] == 3000
        assert gateway.keys_seen.count(f"refund:{r.id}") == 1


async def test_refund_refused_when_swept_is_failed_and_releases_the_amount() -> None:
    async with sqlite_sessions() as sessions:
        gateway, deps, o, paid = await _captured(sessions)
        gateway.faults.append("before")
        r = await _refund(sessions, deps, o.id, "r1")
        assert r.status == "unknown"
        gateway.refuse_refunds = 1
        assert await sweep_once(sessions, deps, datetime.now(UTC)) == 1
        async with sessions() as s:
            assert (await s.get_one(Refund, r.id)).status == "failed"
            assert (await s.get_one(Payment, paid.id)).refunded_amount == 0
