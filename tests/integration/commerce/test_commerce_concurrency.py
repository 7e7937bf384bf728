"""Capacity under concurrency, against PostgreSQL with many simultaneous transactions. Orders
go through the production path (helpers.place: the runtime's placement adapter, on PostgreSQL
commerce_place_order on asyncpg's pool), as POST /v1/orders places them."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

import commerce
from commerce import Order, OrderItem, OrderStatus, SoldOut
from core.clock import TravelClock
from core.errors import Busy
from core.runtime import Runtime
from tests.integration.commerce.helpers import (
    available,
    make_offer,
    new_customer,
    place,
    seats_sold,
    small_runtime,
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


async def test_canary_the_production_path_oversells_with_the_guard_switched_off(
    rt: Runtime, clock: TravelClock
) -> None:
    """Proves the concurrency tests can see a race: the same adapter and function with the
    canary's switch on (HOTLINE_TEST_UNGUARDED_HOLDS=1) write back what each quote read, and
    the same rush oversells."""
    offer = await make_offer(rt, capacity=10)
    customer = await new_customer(rt)
    unguarded = small_runtime(replace(rt.settings, test_unguarded_holds=1), clock=clock)
    try:
        results = await asyncio.gather(
            *[_try_place(unguarded, customer, (offer.id, 1)) for _ in range(40)]
        )
    finally:
        await unguarded.close()
    sold, left = results.count("sold"), await available(rt, offer.id)
    held = await seats_sold(rt, offer.id)
    await _forget_holds(rt, offer.id)  # the sweepers below would give back seats never taken
    assert sold > 10, f"the unguarded path sold {sold} of 10: the test cannot see a race"
    assert held == sold > 10 - left


async def _forget_holds(rt: Runtime, offer_id: str) -> None:
    """End the oversold orders without releasing their seats (the database is shared)."""
    async with rt.sessions() as session, session.begin():
        on_offer = select(OrderItem.order_id).where(OrderItem.offer_id == offer_id)
        await session.execute(
            update(Order).where(Order.id.in_(on_offer)).values(status=OrderStatus.CANCELLED.value)
        )


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
