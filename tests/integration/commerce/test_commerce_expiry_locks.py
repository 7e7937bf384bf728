"""Hold expiry keeps the fixed lock order: sweepers releasing seats while multi-offer orders
are placed on the same offers must not deadlock, and the books must balance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import commerce
from commerce import SoldOut
from core.errors import Busy
from core.runtime import Runtime
from tests.integration.commerce.helpers import (
    available,
    make_offer,
    new_customer,
    place,
    seats_sold,
)


async def test_sweepers_and_opposite_multi_offer_orders_do_not_deadlock(rt: Runtime) -> None:
    a = await make_offer(rt, capacity=200)
    b = await make_offer(rt, capacity=200)
    a_id, b_id = sorted([a.id, b.id])
    customer = await new_customer(rt)
    now = rt.clock.now()
    # Lapsed holds, soonest-expiring first: a batch in expiry order meets the higher offer
    # id before the lower one, the lock order that deadlocks against placing orders.
    shapes = [((b_id, 1),), ((a_id, 1), (b_id, 1)), ((a_id, 2),), ((b_id, 1), (a_id, 1))]
    lapsed = []
    for i in range(48):
        placed_at = now - timedelta(minutes=rt.settings.hold_minutes + 5) + timedelta(seconds=i)
        lapsed.append(await place(rt, customer, *shapes[i % 4], now=placed_at))
    busy: list[str] = []

    async def sweep() -> int:
        expired = 0
        for _ in range(12):
            try:
                async with rt.sessions() as session, session.begin():
                    expired += await commerce.expire_due_holds(session, now, batch=4)
            except Busy:
                busy.append("sweeper")
        return expired

    async def order(i: int) -> str:
        lines = ((a_id, 1), (b_id, 1)) if i % 2 else ((b_id, 1), (a_id, 1))
        try:
            await place(rt, customer, *lines)
            return "sold"
        except SoldOut:
            return "sold-out"
        except Busy:
            busy.append("order")
            return "busy"

    results = await asyncio.gather(sweep(), sweep(), *[order(i) for i in range(40)])
    assert busy == [], "lock waits ended in deadlock (or lock timeout) errors"
    await commerce.expire_holds_job(rt)  # the shared database may hold other tests' lapses
    assert results[2:].count("sold") == 40
    async with rt.sessions() as session:
        for o in lapsed:
            assert (await commerce.get_order(session, o.id)).status == "expired"
    for offer_id in (a_id, b_id):
        assert await seats_sold(rt, offer_id) == 40
        assert await available(rt, offer_id) == 200 - 40
