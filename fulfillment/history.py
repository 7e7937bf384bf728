"""A customer's recent orders with their payments and shipments, for the caller's record, in
one statement on an asyncpg connection (core.drivers).

The same rows as commerce.recent_orders_on, payments.payments_for_orders_on and
shipment_lines_on read one after another: each statement cost the page a round trip to
PostgreSQL (~35 us of the server's CPU for the driver and event loop, and the database's own
share on the same machine), and the record is read on every open and every live refresh
(bench/console.py). This room sits above commerce and payments, so it may read their tables;
tests/integration/web/test_console_caller_pg.py compares the page's record read this way with
the rooms' ORM functions (the plain path).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import commerce
from core.drivers import as_rows
from core.principal import Principal

_HISTORY = (
    "SELECT o.id, o.number, o.customer_id, o.status, o.total, o.currency, o.channel,"
    " o.created_at, o.hold_expires_at,"
    " ARRAY(SELECT ROW(p.id, p.method, p.status, p.amount, p.currency, p.created_at)"
    " FROM payments p WHERE p.order_id = o.id ORDER BY p.created_at) AS payment_rows,"
    " ARRAY(SELECT ROW(s.id, pt.code, s.status, s.tracking_number, s.created_at)"
    " FROM shipments s JOIN partners pt ON pt.id = s.partner_id WHERE s.order_id = o.id"
    " ORDER BY s.created_at) AS shipment_rows"
    " FROM orders o WHERE o.customer_id = $1 ORDER BY o.created_at DESC, o.id DESC LIMIT $2"
)


async def order_history_on(
    driver: Any, principal: Principal, customer_id: str, *, limit: int
) -> list[tuple[Any, list[Any], list[Any]]]:
    """(order, its payments, its shipment lines) for the customer's newest `limit` orders:
    rows read by attribute with the columns of recent_orders_on, payments_for_orders_on and
    shipment_lines_on."""
    commerce.check_order_reader(principal)
    if principal.is_customer and principal.id != customer_id:
        return []
    out = []
    for o in as_rows(await driver.fetch(_HISTORY, customer_id, limit)):
        paid = [
            SimpleNamespace(
                id=p[0],
                order_id=o.id,
                method=p[1],
                status=p[2],
                amount=p[3],
                currency=p[4],
                created_at=p[5],
            )
            for p in o.payment_rows
        ]
        shipped = [
            SimpleNamespace(
                id=s[0],
                order_id=o.id,
                partner_code=s[1],
                status=s[2],
                tracking_number=s[3],
                created_at=s[4],
            )
            for s in o.shipment_rows
        ]
        del o.payment_rows, o.shipment_rows
        out.append((o, paid, shipped))
    return out
