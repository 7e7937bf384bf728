"""A customer's recent orders with their payments and shipments, for the caller's record, in
one statement on an asyncpg connection (core.drivers).

The same rows as commerce.recent_orders_on, payments.payments_for_orders_on and
shipment_lines_on read one after another: each statement cost the page a round trip to
PostgreSQL (~35 us of the server's CPU for the driver and event loop, more under load, and
the database's own share on the same machine), and the record is read on every open and
every live refresh (bench/console.py). This room sits above commerce and payments, so it may
read their tables. `order_history_sql` is the read as one column, for a page that folds it
into a wider statement (web/console/caller.py); tests/integration/commerce/
test_order_history_pg.py compares it with the three reads.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import commerce
from core.principal import Principal

_ORDER = (
    "id", "number", "customer_id", "status", "total", "currency", "channel", "created_at",
    "hold_expires_at",
)  # fmt: skip
_PAYMENT = ("id", "method", "status", "amount", "currency", "created_at")
_SHIPMENT = ("id", "partner_code", "status", "tracking_number", "created_at")


def order_history_sql(customer: str, limit: str) -> str:
    """An SQL expression: an array of the newest `limit` orders of `customer` (both SQL
    expressions, e.g. `$1`), each a row of the order's columns, its payments and its
    shipment lines; `order_history_from` reads it."""
    return (  # `customer` and `limit` are the caller's SQL: placeholders or column names
        "ARRAY(SELECT ROW(o.id, o.number, o.customer_id, o.status, o.total, o.currency,"  # noqa: S608
        " o.channel, o.created_at, o.hold_expires_at,"
        " ARRAY(SELECT ROW(p.id, p.method, p.status, p.amount, p.currency, p.created_at)"
        " FROM payments p WHERE p.order_id = o.id ORDER BY p.created_at),"
        " ARRAY(SELECT ROW(s.id, pt.code, s.status, s.tracking_number, s.created_at)"
        " FROM shipments s JOIN partners pt ON pt.id = s.partner_id WHERE s.order_id = o.id"
        " ORDER BY s.created_at))"
        f" FROM orders o WHERE o.customer_id = {customer}"
        f" ORDER BY o.created_at DESC, o.id DESC LIMIT {limit})"
    )


def may_read_history(principal: Principal, customer_id: str) -> bool:
    """Staff read anyone's orders; a customer only their own (others': nothing)."""
    commerce.check_order_reader(principal)
    return not (principal.is_customer and principal.id != customer_id)


def order_history_from(values: Any) -> list[tuple[Any, list[Any], list[Any]]]:
    """(order, its payments, its shipment lines), rows read by attribute with the columns of
    recent_orders_on, payments_for_orders_on and shipment_lines_on."""
    out = []
    for *columns, paid, shipped in values or ():
        order = SimpleNamespace(**dict(zip(_ORDER, columns, strict=True)))
        out.append(
            (
                order,
                [
                    SimpleNamespace(order_id=order.id, **dict(zip(_PAYMENT, p, strict=True)))
                    for p in paid
                ],
                [
                    SimpleNamespace(order_id=order.id, **dict(zip(_SHIPMENT, s, strict=True)))
                    for s in shipped
                ],
            )
        )
    return out


async def order_history_on(
    driver: Any, principal: Principal, customer_id: str, *, limit: int
) -> list[tuple[Any, list[Any], list[Any]]]:
    """The customer's newest `limit` orders with their payments and shipment lines
    (`order_history_from`)."""
    if not may_read_history(principal, customer_id):
        return []
    sql = f"SELECT {order_history_sql('$1', '$2')}"
    return order_history_from(await driver.fetchval(sql, customer_id, limit))
