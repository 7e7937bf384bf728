"""The shop's fast reads (commerce.views_pg, payments.payment_lines_on: plain SQL on asyncpg)
find what the plain ORM path finds (search_offers, get_order_for, payments_for_order), filter
for filter and page for page, and refuse someone else's order alike."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

import commerce
import payments
from core.errors import NotFound, ValidationFailed
from core.principal import Principal
from core.runtime import Runtime
from payments.models import Payment
from tests.integration.commerce.helpers import make_offer, new_customer, place


async def _both(rt: Runtime, **search: Any) -> tuple[Any, Any]:
    assert rt.drivers is not None
    search = {"now": rt.clock.now(), "zone": rt.settings.zone, **search}
    async with rt.sessions() as session:
        plain = await commerce.offer_cards(session, **search)
    fast = await rt.drivers.read(lambda pg: commerce.offer_cards_on(pg, **search))
    return plain, fast


async def test_offer_cards_match_search_offers_for_every_filter(rt: Runtime) -> None:
    word = f"Views{uuid.uuid4().hex[:6]}"
    kinds = ("event", "train", "flight", "hotel", "event")
    made = [
        await make_offer(
            rt, kind=k, title=f"{word} {i} 100%_off\\", starts_in=timedelta(days=2 + i % 3)
        )
        for i, k in enumerate(kinds)
    ]
    day = rt.clock.now().astimezone(rt.settings.zone).date() + timedelta(days=3)
    shapes: list[dict[str, Any]] = [
        {"q": word},
        {"q": word.lower(), "kind": "event"},
        {"q": "100%_OFF\\"},
        {"q": made[2].code},
        {"q": word, "on": day},
        {"q": word, "now": rt.clock.now() + timedelta(days=2, hours=12)},  # past ones left out
        {"q": "no such offer anywhere"},
        {"limit": 3},
    ]
    for shape in shapes:
        plain, fast = await _both(rt, **shape)
        assert fast == plain, shape
    plain, fast = await _both(rt, q=word)
    assert {c.id for c in fast.items} == {o.id for o in made}
    with pytest.raises(ValidationFailed):
        await _both(rt, kind="boat")


async def test_offer_cards_page_alike_with_the_cursor(rt: Runtime) -> None:
    word = f"Pages{uuid.uuid4().hex[:6]}"
    for i in range(5):  # two share a start time: the id breaks the tie
        await make_offer(rt, title=f"{word} {i}", starts_in=timedelta(days=4 + min(i, 3)))
    cursor, seen = None, []
    while True:
        plain, fast = await _both(rt, q=word, limit=2, cursor=cursor)
        assert fast == plain
        seen += [c.id for c in fast.items]
        if not (cursor := fast.next_cursor):
            break
    assert len(seen) == len(set(seen)) == 5


async def test_order_view_matches_get_order_for_and_refuses_strangers(rt: Runtime) -> None:
    assert rt.drivers is not None
    one, two = await make_offer(rt, price=12300), await make_offer(rt, price=4500)
    customer = await new_customer(rt)
    placed = await place(rt, customer, (one.id, 2), (two.id, 1), method="courier")
    who = Principal("customer", customer)
    async with rt.sessions() as session:
        plain = await commerce.order_view(session, placed.id, who)
    fast = await rt.drivers.read(lambda pg: commerce.order_view_on(pg, placed.id, customer))
    assert fast == plain
    assert len(fast.items) == 2 and fast.delivery_address

    stranger = await new_customer(rt)
    for order_id, asker in ((placed.id, stranger), (f"x{placed.id}", customer)):
        async with rt.sessions() as session:
            with pytest.raises(NotFound):
                await commerce.order_view(session, order_id, Principal("customer", asker))
        with pytest.raises(NotFound):
            await rt.drivers.read(lambda pg, o=order_id, a=asker: commerce.order_view_on(pg, o, a))


async def test_payment_lines_match_payments_for_order(rt: Runtime) -> None:
    assert rt.drivers is not None
    offer = await make_offer(rt)
    order = await place(rt, await new_customer(rt), (offer.id, 1))
    now = rt.clock.now()
    async with rt.sessions() as s, s.begin():
        for n, (method, status) in enumerate((("card", "failed"), ("carrier_billing", "pending"))):
            s.add(
                Payment(
                    order_id=order.id,
                    order_number=order.number,
                    customer_id=order.customer_id,
                    method=method,
                    status=status,
                    amount=order.total,
                    currency=order.currency,
                    subtotal=order.subtotal,
                    booking_fee=order.booking_fee,
                    delivery_fee=order.delivery_fee,
                    refunded_amount=0,
                    disputed_amount=0,
                    request_key=f"{method}:{order.id}:{n}",
                    actor=f"customer:{order.customer_id}",
                    created_at=now + timedelta(seconds=n),
                    updated_at=now,
                )
            )
    async with rt.sessions() as session:
        plain = await payments.payments_for_order(session, order.id)
    fast = await rt.drivers.read(lambda pg: payments.payment_lines_on(pg, order.id))
    assert [(p.method, p.status, p.amount, p.currency) for p in plain] == [
        (p.method, p.status, p.amount, p.currency) for p in fast
    ]
    assert [p.method for p in fast] == ["card", "carrier_billing"]
