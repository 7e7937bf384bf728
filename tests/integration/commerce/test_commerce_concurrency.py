"""Capacity under concurrency, against PostgreSQL with many simultaneous transactions."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import commerce
from commerce import Offer, OrderStatus, SoldOut
from core.errors import Busy
from core.runtime import Runtime
from tests.integration.commerce.helpers import (
    available,
    make_offer,
    new_customer,
    place,
    seats_sold,
)


async def _try_place(rt: Runtime, customer: str, *lines: tuple[str, int]) -> str:
    for _ in range(20):
        try:
            await place(rt, customer, *lines)
            return "sold"
        except SoldOut:
            return "sold-out"
        except Busy:
            await asyncio.sleep(0.05)
    return "busy"


async def test_concurrent_orders_sell_exactly_the_capacity(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=25)
    customer = await new_customer(rt)
    results = await asyncio.gather(*[_try_place(rt, customer, (offer.id, 1)) for _ in range(80)])
    assert results.count("sold") == 25
    assert results.count("sold-out") == 55
    assert await available(rt, offer.id) == 0
    assert await seats_sold(rt, offer.id) == 25


async def _naive_hold(session: AsyncSession, offer_id: str, quantity: int) -> None:
    """The bug pretix and Saleor shipped: read availability, decide, write it back."""
    left = await session.scalar(select(Offer.available).where(Offer.id == offer_id))
    await asyncio.sleep(0.005)  # any real request does work between the read and the write
    if left is None or left < quantity:
        raise SoldOut(offer_id=offer_id, code="?", title="?", available=left or 0)
    await session.execute(
        update(Offer).where(Offer.id == offer_id).values(available=left - quantity)
    )


async def test_canary_read_then_write_oversells(rt: Runtime) -> None:
    """Proves the concurrency tests can see a race: the guard off, the same rush oversells."""
    offer = await make_offer(rt, capacity=10)
    sold = 0

    async def naive_order() -> None:
        nonlocal sold
        async with rt.sessions() as session, session.begin():
            try:
                await _naive_hold(session, offer.id, 1)
            except SoldOut:
                return
        sold += 1

    await asyncio.gather(*[naive_order() for _ in range(40)])
    assert sold > 10, "the unguarded path should oversell under concurrency"


async def test_opposite_multi_offer_orders_neither_deadlock_nor_oversell(rt: Runtime) -> None:
    a = await make_offer(rt, capacity=15)
    b = await make_offer(rt, capacity=15)
    customer = await new_customer(rt)
    orders = [((a.id, 1), (b.id, 1)) if i % 2 else ((b.id, 1), (a.id, 1)) for i in range(40)]
    results = await asyncio.gather(*[_try_place(rt, customer, *o) for o in orders])
    assert results.count("sold") == 15 and "busy" not in results
    assert await available(rt, a.id) == 0 and await available(rt, b.id) == 0
    assert await seats_sold(rt, a.id) == 15 and await seats_sold(rt, b.id) == 15


async def test_two_sweepers_expire_each_hold_once(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=30)
    customer = await new_customer(rt)
    orders = [await place(rt, customer, (offer.id, 2)) for _ in range(12)]
    assert await available(rt, offer.id) == 6
    later = rt.clock.now() + timedelta(minutes=rt.settings.hold_minutes + 1)

    async def sweep() -> int:
        async with rt.sessions() as session, session.begin():
            return await commerce.expire_due_holds(session, later, batch=5)

    counts: list[int] = []
    while not counts or sum(counts[-3:]) > 0:  # the shared database holds others' lapses too
        counts.extend(await asyncio.gather(sweep(), sweep(), sweep()))
    assert await available(rt, offer.id) == 30
    assert await seats_sold(rt, offer.id) == 0
    assert sum(counts) >= 12  # the database is shared: other tests' lapsed holds go too
    async with rt.sessions() as session:
        for order in orders:
            history = await commerce.order_history(session, order.id)
            assert [e.to_status for e in history].count("expired") == 1
    await sweep()  # nothing left: a further sweep changes nothing
    assert await available(rt, offer.id) == 30


async def test_concurrent_cancels_release_capacity_once(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=5)
    customer = await new_customer(rt)
    order = await place(rt, customer, (offer.id, 3))

    async def cancel() -> None:
        async with rt.sessions() as session, session.begin():
            await commerce.transition(
                session,
                order.id,
                OrderStatus.CANCELLED,
                actor=f"customer:{customer}",
                channel="web",
                reason="changed my mind",
                now=rt.clock.now(),
            )

    await asyncio.gather(*[cancel() for _ in range(6)])
    assert await available(rt, offer.id) == 5
    async with rt.sessions() as session:
        history = await commerce.order_history(session, order.id)
    assert [e.to_status for e in history].count("cancelled") == 1


async def test_payment_racing_the_sweeper_keeps_seats_consistent(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=8)
    customer = await new_customer(rt)
    orders = [await place(rt, customer, (offer.id, 1)) for _ in range(8)]
    later = rt.clock.now() + timedelta(minutes=rt.settings.hold_minutes + 1)

    async def pay(order_id: str) -> None:
        async with rt.sessions() as session, session.begin():
            await commerce.mark_paid(
                session, order_id, actor="system", channel="system", reason="paid", now=later
            )

    async def sweep() -> None:
        async with rt.sessions() as session, session.begin():
            await commerce.expire_due_holds(session, later)

    tasks = [pay(o.id) for o in orders] + [sweep(), sweep()]
    random.shuffle(tasks)
    await asyncio.gather(*tasks)
    # Every order ends paid (re-held if the sweeper won first), and the books balance.
    async with rt.sessions() as session:
        statuses = [(await commerce.get_order(session, o.id)).status for o in orders]
    assert statuses == ["paid"] * 8
    assert await available(rt, offer.id) == 0
    assert await seats_sold(rt, offer.id) == 8


@pytest.mark.parametrize("quantity", [1, 3])
async def test_sold_out_names_the_offer_and_writes_nothing(rt: Runtime, quantity: int) -> None:
    a = await make_offer(rt, capacity=5)
    b = await make_offer(rt, capacity=2)
    customer = await new_customer(rt)
    with pytest.raises(SoldOut) as err:
        await place(rt, customer, (a.id, quantity), (b.id, 3))
    assert err.value.extra["offer_id"] == b.id and err.value.status == 409
    assert await available(rt, a.id) == 5, "the other line's hold rolled back too"
    assert await available(rt, b.id) == 2
