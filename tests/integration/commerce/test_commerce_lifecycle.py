"""Order lifecycle through the service surface payments and fulfillment use."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, select

import commerce
from commerce import OrderStatus
from core import idempotency
from core.errors import (
    IdempotencyConflict,
    IdempotencyInProgress,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from tests.integration.commerce.helpers import available, make_offer, new_customer, place

S = OrderStatus


async def _topics(rt: Runtime, order_id: str) -> list[str]:
    async with rt.sessions() as session:
        rows = await session.scalars(select(OutboxMessage))
        return [m.topic for m in rows if m.payload.get("order_id") == order_id]


async def _mark_paid(rt: Runtime, order_id: str, **kw: object) -> commerce.MarkPaidResult:
    now = kw.pop("now", rt.clock.now())
    async with rt.sessions() as session, session.begin():
        return await commerce.mark_paid(
            session,
            order_id,
            actor="system",
            channel="system",
            reason="payment",
            now=now,  # type: ignore[arg-type]
        )


async def _move(rt: Runtime, order_id: str, to: S) -> commerce.Order:
    async with rt.sessions() as session, session.begin():
        return await commerce.transition(
            session,
            order_id,
            to,
            actor="partner:sf",
            channel="system",
            reason="t",
            now=rt.clock.now(),
        )


async def test_order_prices_and_holds(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=10, price=68000)
    order = await place(rt, await new_customer(rt), (offer.id, 2), method="courier")
    assert order.status == "awaiting_payment" and len(order.number) == 8
    assert (order.subtotal, order.booking_fee, order.delivery_fee) == (136000, 500, 1500)
    assert order.total == 138000
    assert order.hold_expires_at - order.created_at == timedelta(minutes=15)
    assert await available(rt, offer.id) == 8


async def test_mark_paid_once_emits_order_paid_and_is_idempotent(rt: Runtime) -> None:
    offer = await make_offer(rt)
    order = await place(rt, await new_customer(rt), (offer.id, 1))
    first = await _mark_paid(rt, order.id)
    second = await _mark_paid(rt, order.id)
    assert first.outcome == "paid" and first.changed and not first.rehold_failed
    assert second.outcome == "already_paid" and not second.changed
    assert await _topics(rt, order.id) == ["order.paid"]


async def test_late_payment_reholds_when_seats_remain(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=3)
    order = await place(rt, await new_customer(rt), (offer.id, 2))
    later = rt.clock.now() + timedelta(minutes=16)
    async with rt.sessions() as session, session.begin():
        assert await commerce.expire_due_holds(session, later) >= 1
    assert await available(rt, offer.id) == 3
    result = await _mark_paid(rt, order.id, now=later)
    assert result.outcome == "paid"
    assert await available(rt, offer.id) == 1


async def test_late_payment_reports_rehold_failed_when_sold_out(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=2)
    customer = await new_customer(rt)
    order = await place(rt, customer, (offer.id, 2))
    later = rt.clock.now() + timedelta(minutes=16)
    async with rt.sessions() as session, session.begin():
        await commerce.expire_due_holds(session, later)
    await place(rt, customer, (offer.id, 1), now=later)
    result = await _mark_paid(rt, order.id, now=later)
    assert result.outcome == "rehold_failed" and result.rehold_failed
    assert result.order.status == "expired"
    assert await available(rt, offer.id) == 1, "a failed re-hold takes nothing"
    assert await _topics(rt, order.id) == []


async def test_full_lifecycle_and_history(rt: Runtime) -> None:
    offer = await make_offer(rt)
    order = await place(rt, await new_customer(rt), (offer.id, 1))
    await _mark_paid(rt, order.id)
    await _move(rt, order.id, S.FULFILLING)
    await _move(rt, order.id, S.FULFILLING)  # a retried job: no-op
    await _move(rt, order.id, S.FULFILLED)
    with pytest.raises(InvalidTransition):
        await _move(rt, order.id, S.CANCELLED)
    await _move(rt, order.id, S.REFUNDED)
    async with rt.sessions() as session:
        history = await commerce.order_history(session, order.id)
    assert sorted(e.to_status for e in history) == sorted(
        ["awaiting_payment", "paid", "fulfilling", "fulfilled", "refunded"]
    )
    assert all(e.actor and e.channel and e.reason for e in history)
    assert await available(rt, offer.id) == 9


async def test_cancelling_a_paid_order_emits_order_cancelled(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=4)
    order = await place(rt, await new_customer(rt), (offer.id, 4))
    await _mark_paid(rt, order.id)
    await _move(rt, order.id, S.CANCELLED)
    assert await _topics(rt, order.id) == ["order.paid", "order.cancelled"]
    assert await available(rt, offer.id) == 4
    assert (await _mark_paid(rt, order.id)).rehold_failed


async def test_a_reason_too_long_for_its_column_is_422_not_cut(rt: Runtime) -> None:
    """A cancel or transition reason past order_events.reason's 500 characters was cut to
    fit; now it is refused naming `reason`, the order stays as it was, and 500 fit whole."""
    offer = await make_offer(rt, capacity=2)
    customer_id = await new_customer(rt)
    order = await place(rt, customer_id, (offer.id, 1))
    owner = Principal("customer", customer_id)
    for too_long in ("x" * 501, "说" * 100_000):
        with pytest.raises(ValidationFailed) as refused:
            async with rt.sessions() as session, session.begin():
                await commerce.cancel_order(
                    session, order.id, owner, reason=too_long, now=rt.clock.now()
                )
        assert refused.value.errors == [{"field": "reason", "message": "at most 500 characters"}]
    with pytest.raises(ValidationFailed, match="at most 500 characters"):
        async with rt.sessions() as session, session.begin():
            await commerce.transition(
                session, order.id, S.CANCELLED, actor="system", channel="system",
                reason="y" * 501, now=rt.clock.now(),
            )  # fmt: skip
    assert await available(rt, offer.id) == 1  # still held: nothing moved
    async with rt.sessions() as session, session.begin():
        await commerce.cancel_order(session, order.id, owner, reason="z" * 500, now=rt.clock.now())
    async with rt.sessions() as session:
        history = await commerce.order_history(session, order.id)
    assert [e.reason for e in history if e.to_status == "cancelled"] == ["z" * 500]


async def test_customer_cannot_read_anothers_order(rt: Runtime) -> None:
    offer = await make_offer(rt)
    owner = await new_customer(rt)
    order = await place(rt, owner, (offer.id, 1))
    async with rt.sessions() as session:
        got = await commerce.get_order_for(session, order.id, Principal("customer", owner))
        assert got.id == order.id
        await commerce.get_order_for(
            session, order.id, Principal("agent", "a1", frozenset({"agent"}))
        )
        with pytest.raises(NotFound):
            await commerce.get_order_for(session, order.id, Principal("customer", "someone"))
        page = await commerce.list_orders(session, Principal("customer", owner))
        assert [o.id for o in page.items] == [order.id]


async def test_idempotency_store_claims_once_replays_and_refuses_other_bodies(
    rt: Runtime,
) -> None:
    now = rt.clock.now()
    scope, key = f"test:{now.timestamp()}", "k-1"
    fp = idempotency.fingerprint({"body": 1})

    async def try_claim() -> str:
        try:
            await idempotency.claim(rt.sessions, scope=scope, key=key, fingerprint=fp, now=now)
            return "claimed"
        except IdempotencyInProgress:
            return "in-progress"

    results = await asyncio.gather(*[try_claim() for _ in range(10)])
    assert results.count("claimed") == 1 and results.count("in-progress") == 9
    claim = await idempotency.claim(
        rt.sessions, scope=scope, key=key, fingerprint=fp, now=now + timedelta(minutes=2)
    )  # the first worker "died": its lease lapsed, so the key is taken over
    assert claim.replay is None
    async with rt.sessions() as session, session.begin():
        await idempotency.complete(session, claim, status=201, body={"id": "x"}, now=now)
    again = await idempotency.claim(rt.sessions, scope=scope, key=key, fingerprint=fp, now=now)
    assert again.replay is not None and again.replay.body == {"id": "x"}
    with pytest.raises(IdempotencyConflict):
        await idempotency.claim(rt.sessions, scope=scope, key=key, fingerprint="other", now=now)
    other_caller = await idempotency.claim(
        rt.sessions, scope=scope + ":b", key=key, fingerprint="other", now=now
    )
    assert other_caller.replay is None
    fresh = await idempotency.claim(
        rt.sessions, scope=scope, key=key, fingerprint="other", now=now + timedelta(hours=25)
    )
    assert fresh.replay is None, "after 24 hours the key is free again"


async def test_a_transition_writes_the_order_once(rt: Runtime) -> None:
    """The conditional UPDATE is the whole write: the order object then holds the new status
    as loaded state, so the flush does not send a second UPDATE of the same row."""
    offer = await make_offer(rt, capacity=5)
    order = await place(rt, await new_customer(rt), (offer.id, 1), method="e_ticket")
    updates: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE ORDERS"):
            updates.append(statement)

    engine = rt.engine.sync_engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        paid = await _mark_paid(rt, order.id)
        assert paid.order.status == "paid"
        assert len(updates) == 1, updates
        updates.clear()
        moved = await _move(rt, order.id, S.FULFILLING)
        assert moved.status == "fulfilling"
        assert len(updates) == 1, updates
    finally:
        event.remove(engine, "before_cursor_execute", seen)
