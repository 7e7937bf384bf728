"""The hold and the COMMIT in one round trip (commerce/commit_hold.py): the same guard as the
two-statement path. A conditional UPDATE that matches no row aborts the batch before COMMIT,
so the order and everything else in its transaction roll back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select, update

import commerce
from commerce import Offer, Order, OrderEvent, OrderItem, SoldOut
from core.errors import Busy
from core.runtime import Runtime
from tests.integration.commerce.helpers import available, make_offer


async def _order(rt: Runtime, offer: Offer, customer: str, meanwhile: object = None) -> Order:
    async def race(order: Order) -> None:  # another buyer commits between quote and hold
        if meanwhile is not None:
            async with rt.sessions() as other, other.begin():
                await other.execute(update(Offer).where(Offer.id == offer.id).values(**meanwhile))

    async with rt.sessions() as session:
        return await commerce.place_order(
            session,
            customer_id=customer,
            lines=[commerce.LineRequest(offer.id, 2)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=f"customer:{customer}",
            channel="web",
            settings=rt.settings,
            now=rt.clock.now(),
            before_hold=race,
            commit=True,
        )


async def _orders_of(rt: Runtime, customer: str) -> int:
    async with rt.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Order).where(Order.customer_id == customer)
            )
            or 0
        )


async def test_the_order_is_committed_with_its_hold(rt: Runtime) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    order = await _order(rt, offer, customer)
    assert order.status == "awaiting_payment"
    assert await available(rt, offer.id) == 3 and await _orders_of(rt, customer) == 1


async def test_seats_gone_between_quote_and_hold_roll_the_order_back(rt: Runtime) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    with pytest.raises(SoldOut):
        await _order(rt, offer, customer, meanwhile={"available": 1})
    assert await available(rt, offer.id) == 1 and await _orders_of(rt, customer) == 0


async def test_a_price_changed_between_quote_and_hold_is_busy_and_writes_nothing(
    rt: Runtime,
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    with pytest.raises(Busy):
        await _order(rt, offer, customer, meanwhile={"price_amount": 70000})
    assert await available(rt, offer.id) == 5 and await _orders_of(rt, customer) == 0


async def test_a_colliding_order_number_is_drawn_again_with_nothing_half_written(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The order, its items and its history go in one statement; a number already taken makes
    # that statement write nothing, and the next draw writes all three once.
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    first = await _order(rt, offer, customer)
    draws = iter([first.number, "ZZZZ2345"])
    monkeypatch.setattr("commerce.service.new_order_number", lambda: next(draws))
    second = await _order(rt, offer, customer)
    assert second.number == "ZZZZ2345" and await _orders_of(rt, customer) == 2
    async with rt.sessions() as session:
        for table in (OrderItem, OrderEvent):
            rows = await session.scalar(
                select(func.count()).select_from(table).where(table.order_id == second.id)
            )
            assert rows == 1
    assert await available(rt, offer.id) == 1
