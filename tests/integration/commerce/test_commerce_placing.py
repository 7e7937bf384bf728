"""An order placed on its own (commerce/placing_pg.py): quote, then `commerce_place_order`, one
statement that writes the order and holds its seats. A line that no longer fits when the
statement runs rolls back everything it wrote; the refusals are commerce/guards.py's."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select, update

import commerce
from commerce import Offer, Order, OrderEvent, OrderItem, OrderStatus, SoldOut, guards, quotes
from commerce import placing_pg as placing
from core import idempotency
from core.errors import Busy, IdempotencyInProgress, ValidationFailed
from core.runtime import Runtime
from tests.integration.commerce.helpers import available, make_offer, place


async def _order(rt: Runtime, offer: Offer, customer: str, **kw: Any) -> Any:
    return await commerce.placement(rt).place(
        customer_id=customer,
        lines=[commerce.LineRequest(offer.id, 2)],
        delivery_method="e_ticket",
        delivery_address=None,
        actor=f"customer:{customer}",
        channel="web",
        now=rt.clock.now(),
        **kw,
    )


async def _count(rt: Runtime, table: Any, **where: str) -> int:
    column, value = next(iter(where.items()))
    async with rt.sessions() as session:
        stmt = select(func.count()).select_from(table).where(getattr(table, column) == value)
        return int(await session.scalar(stmt) or 0)


def _fields(row: Any) -> dict[str, Any]:
    """An offer row's columns: asyncpg's rows remembered as namespaces, SQLAlchemy's Rows."""
    return dict(row._asdict()) if hasattr(row, "_asdict") else dict(vars(row))


def _stale_quote(monkeypatch: pytest.MonkeyPatch, **quoted: Any) -> None:
    """The quote read before someone else's commit: it passes, the statement then refuses."""

    def stale(lines: Any, rows: dict[str, Any], now: Any) -> Any:
        rows = {
            k: SimpleNamespace(**{**_fields(r), **quoted.get("row", {})}) for k, r in rows.items()
        }
        return [replace(h, **quoted.get("line", {})) for h in check_quote(lines, rows, now)]

    check_quote = guards.check_quote
    monkeypatch.setattr(guards, "check_quote", stale)


async def test_the_order_is_committed_with_its_hold(rt: Runtime) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    order = await _order(rt, offer, customer)
    assert order.status == "awaiting_payment" and order.subtotal == 2 * 68000
    assert await available(rt, offer.id) == 3
    assert await _count(rt, Order, customer_id=customer) == 1
    for table in (OrderItem, OrderEvent):
        assert await _count(rt, table, order_id=order.id) == 1
    async with rt.sessions() as session:
        stored = await commerce.get_order(session, order.id)
        assert (stored.number, stored.total, stored.items[0].title) == (
            order.number,
            order.total,
            offer.title,
        )


async def test_seats_gone_between_quote_and_hold_roll_the_order_back(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer, customer = await make_offer(rt, capacity=1), uuid.uuid4().hex
    _stale_quote(monkeypatch, row={"available": 5})
    with pytest.raises(SoldOut) as refused:
        await _order(rt, offer, customer)
    assert refused.value.offer_id == offer.id
    assert await available(rt, offer.id) == 1 and await _count(rt, Order, customer_id=customer) == 0


async def test_a_price_changed_between_quote_and_hold_is_busy_and_writes_nothing(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    _stale_quote(monkeypatch, line={"unit_price": 60000})
    with pytest.raises(Busy):
        await _order(rt, offer, customer)
    assert await available(rt, offer.id) == 5 and await _count(rt, Order, customer_id=customer) == 0


async def test_an_offer_started_between_quote_and_hold_is_422(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    async with rt.sessions() as session, session.begin():
        started = rt.clock.now() - timedelta(minutes=1)
        await session.execute(update(Offer).where(Offer.id == offer.id).values(starts_at=started))
    _stale_quote(monkeypatch, row={"starts_at": rt.clock.now() + timedelta(days=1)})
    with pytest.raises(ValidationFailed) as refused:
        await _order(rt, offer, customer)
    assert "already started" in str(refused.value)
    assert await available(rt, offer.id) == 5


async def test_a_colliding_order_number_is_drawn_again_with_nothing_half_written(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    first = await _order(rt, offer, customer)
    draws = iter([first.number, "ZZZZ2345"])
    monkeypatch.setattr(placing, "new_order_number", lambda: next(draws))
    bodies: list[str] = []
    second = await _order(rt, offer, customer, respond=lambda o: bodies.append(o.number))
    assert second.number == "ZZZZ2345" and bodies == [first.number, "ZZZZ2345"]
    assert await _count(rt, Order, customer_id=customer) == 2
    for table in (OrderItem, OrderEvent):
        assert await _count(rt, table, order_id=second.id) == 1
    assert await available(rt, offer.id) == 1  # the failed draw held nothing


async def test_the_stored_reply_commits_with_the_order_and_not_without_it(rt: Runtime) -> None:
    offer, customer = await make_offer(rt, capacity=2), uuid.uuid4().hex
    now = rt.clock.now()

    async def claim(key: str) -> idempotency.Claim:
        return await idempotency.claim(
            rt.sessions, scope=f"t:{customer}", key=key, fingerprint="f", now=now
        )

    kept, lost = await claim("kept"), await claim("lost")

    def reply(claim: idempotency.Claim) -> Any:
        return lambda o: idempotency.completion(
            claim, status=201, body={"number": o.number}, resource_id=o.id
        )

    order = await _order(rt, offer, customer, respond=reply(kept))
    with pytest.raises(SoldOut):
        await _order(rt, offer, customer, respond=reply(lost))
    again = await claim("kept")
    assert again.replay is not None and again.replay.body == {"number": order.number}
    assert again.replay.resource_id == order.id
    with pytest.raises(IdempotencyInProgress):
        await claim("lost")  # still in progress: the refused order stored nothing


async def test_a_connection_left_mid_query_does_not_poison_the_pool(rt: Runtime) -> None:
    assert rt.drivers is not None
    with pytest.raises(TimeoutError):
        async with rt.drivers.connection() as pg:
            await asyncio.wait_for(pg.execute("SELECT pg_sleep(5)"), 0.05)
    for _ in range(3):
        async with rt.drivers.connection() as pg:
            assert await pg.fetchval("SELECT 1") == 1


async def _place_in(rt: Runtime, session: Any, customer: str, offer: Offer, n: int) -> Any:
    return await commerce.place_order(
        session,
        customer_id=customer,
        lines=[commerce.LineRequest(offer.id, n)],
        delivery_method="e_ticket",
        delivery_address=None,
        actor=f"customer:{customer}",
        channel="web",
        settings=rt.settings,
        now=rt.clock.now(),
    )


async def test_in_a_transaction_a_colliding_number_is_drawn_again_too(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # service.place_order: the same function on the caller's connection, in a savepoint; a
    # number already taken writes nothing, and the next draw writes all three once.
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    first = await place(rt, customer, (offer.id, 2))
    draws = iter([first.number, "ZZZZ2346"])
    monkeypatch.setattr(placing, "new_order_number", lambda: next(draws))
    async with rt.sessions() as session, session.begin():
        second = await _place_in(rt, session, customer, offer, 2)
    assert isinstance(second, Order) and second.items[0].quantity == 2
    assert second.number == "ZZZZ2346" and await _count(rt, Order, customer_id=customer) == 2
    for table in (OrderItem, OrderEvent):
        assert await _count(rt, table, order_id=second.id) == 1
    assert await available(rt, offer.id) == 1


async def test_in_a_transaction_a_refusal_leaves_the_callers_transaction_usable(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer, customer = await make_offer(rt, capacity=3), uuid.uuid4().hex
    async with rt.sessions() as session, session.begin():
        kept = await _place_in(rt, session, customer, offer, 2)
        with monkeypatch.context() as m:
            _stale_quote(m, row={"available": 5})  # the quote passes; the function refuses
            with pytest.raises(SoldOut) as refused:
                await _place_in(rt, session, customer, offer, 2)
        assert refused.value.available == 1
        last = await _place_in(rt, session, customer, offer, 1)  # the savepoint rolled back
    assert await _count(rt, Order, customer_id=customer) == 2
    for order in (kept, last):
        assert await _count(rt, OrderItem, order_id=order.id) == 1
    assert await available(rt, offer.id) == 0


# --- the quote from memory (commerce/quotes.py) -------------------------------------------


async def test_a_remembered_seat_count_never_sells_what_is_gone(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=2)
    await _order(rt, offer, uuid.uuid4().hex)  # remembers available = 2, then takes both
    with pytest.raises(SoldOut) as refused:
        await _order(rt, offer, uuid.uuid4().hex)  # the hint says 2: the UPDATE says no
    assert refused.value.available == 0 and await available(rt, offer.id) == 0
    assert quotes._remembered([offer.id]) is not None
    assert quotes._remembered([offer.id])[offer.id].available == 0  # learnt from the refusal


async def test_seats_given_back_are_sold_again_despite_a_remembered_sell_out(rt: Runtime) -> None:
    offer = await make_offer(rt, capacity=2)
    first = await _order(rt, offer, uuid.uuid4().hex)
    with pytest.raises(SoldOut):
        await _order(rt, offer, uuid.uuid4().hex)
    async with rt.sessions() as session, session.begin():
        await commerce.transition(
            session,
            first.id,
            OrderStatus.CANCELLED,
            actor="system",
            channel="system",
            reason="test",
            now=rt.clock.now(),
        )
    again = await _order(rt, offer, uuid.uuid4().hex)  # hint 0 < 2: read afresh, then hold
    assert again.status == "awaiting_payment" and await available(rt, offer.id) == 0


async def test_a_remembered_offer_moved_into_the_past_is_refused_by_the_database(
    rt: Runtime,
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    await _order(rt, offer, customer)
    async with rt.sessions() as session, session.begin():
        started = rt.clock.now() - timedelta(minutes=1)
        await session.execute(update(Offer).where(Offer.id == offer.id).values(starts_at=started))
    with pytest.raises(ValidationFailed):
        await _order(rt, offer, customer)
    assert await available(rt, offer.id) == 3


async def test_a_price_changed_under_a_remembered_quote_is_busy_once_then_the_new_price(
    rt: Runtime,
) -> None:
    offer, customer = await make_offer(rt, capacity=5), uuid.uuid4().hex
    await _order(rt, offer, customer)
    async with rt.sessions() as session, session.begin():
        await session.execute(update(Offer).where(Offer.id == offer.id).values(price_amount=1000))
    with pytest.raises(Busy):
        await _order(rt, offer, customer)
    retried = await _order(rt, offer, customer)
    assert retried.subtotal == 2 * 1000 and await available(rt, offer.id) == 1
