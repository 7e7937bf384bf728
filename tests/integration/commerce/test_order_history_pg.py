"""fulfillment.order_history_on (the caller's orders with their payments and shipments in one
statement) finds what the three reads it replaces find: commerce.recent_orders_on,
payments.payments_for_orders_on and fulfillment.shipment_lines_on, order for order and in
the same order; and a customer asking for someone else's gets nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import commerce
import fulfillment
import payments
from core.principal import Principal
from core.runtime import Runtime
from payments.models import Payment
from tests.integration.commerce.helpers import make_offer, new_customer, place


def _payment(order: Any, n: int, method: str, status: str, now: Any) -> Payment:
    return Payment(
        order_id=order.id, order_number=order.number, customer_id=order.customer_id,
        method=method, status=status, amount=order.total, currency=order.currency,
        subtotal=order.subtotal, booking_fee=order.booking_fee, delivery_fee=order.delivery_fee,
        refunded_amount=0, disputed_amount=0, request_key=f"hist:{order.id}:{n}",
        actor=f"customer:{order.customer_id}", created_at=now + timedelta(seconds=n),
        updated_at=now,
    )  # fmt: skip


async def test_one_statement_finds_what_the_three_reads_find(rt: Runtime) -> None:
    assert rt.drivers is not None
    offer = await make_offer(rt)
    customer_id = await new_customer(rt)
    orders = [await place(rt, customer_id, (offer.id, 1)) for _ in range(4)]
    now = rt.clock.now()
    async with rt.sessions() as s, s.begin():
        s.add(_payment(orders[0], 0, "card", "failed", now))
        s.add(_payment(orders[0], 1, "carrier_billing", "succeeded", now))
        s.add(_payment(orders[2], 0, "carrier_billing", "pending", now))
        partners = [
            fulfillment.Partner(
                code=f"h-{uuid.uuid4().hex[:8]}",
                name="Courier",
                kind="http",
                delivery_method="courier",
                endpoint_url="http://127.0.0.1:9/",
                secret="x" * 32,
                currency="CNY",
                active=False,
                created_at=now,
            )
            for _ in range(2)
        ]
        s.add_all(partners)
        await s.flush()
        shipments = (
            (orders[0], 0, "dispatched", "SF1"),
            (orders[0], 1, "pending", None),
            (orders[3], 0, "failed", None),
        )
        for n, (order, p, status, tracking) in enumerate(shipments):
            s.add(
                fulfillment.Shipment(
                    order_id=order.id,
                    partner_id=partners[p].id,
                    status=status,
                    request={},
                    tracking_number=tracking,
                    created_at=now + timedelta(seconds=n),
                    updated_at=now,
                )
            )
    staff = Principal("agent", "a" * 32, frozenset({"agent"}))

    async def three(pg: Any) -> list[Any]:
        listed = await commerce.recent_orders_on(pg, staff, customer_id, limit=3)
        ids = [o.id for o in listed]
        paid = await payments.payments_for_orders_on(pg, ids)
        shipped = await fulfillment.shipment_lines_on(pg, ids)
        return [
            (vars(o), [vars(p) for p in paid[o.id]], [vars(x) for x in shipped[o.id]])
            for o in listed
        ]

    plain = await rt.drivers.read(three)
    fast = await rt.drivers.read(
        lambda pg: fulfillment.order_history_on(pg, staff, customer_id, limit=3)
    )
    seen = [
        (vars(o), [vars(p) for p in paid], [vars(x) for x in shipped]) for o, paid, shipped in fast
    ]
    assert seen == plain
    assert [len(p) for _, p, _ in seen] == [0, 1, 0] and [len(x) for *_, x in seen] == [1, 0, 0]
    everything = await rt.drivers.read(
        lambda pg: fulfillment.order_history_on(pg, staff, customer_id, limit=8)
    )
    assert [len(p) for _, p, _ in everything][-1] == 2  # the oldest order: both attempts
    assert [p.method for p in everything[-1][1]] == ["card", "carrier_billing"]
    assert [x.tracking_number for x in everything[-1][2]] == ["SF1", None]
    stranger = Principal("customer", await new_customer(rt))
    assert (
        await rt.drivers.read(
            lambda pg: fulfillment.order_history_on(pg, stranger, customer_id, limit=8)
        )
        == []
    )
