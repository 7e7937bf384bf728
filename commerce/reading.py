"""Reading orders, and who may: a customer sees only their own orders; staff need a booking
role (agent or supervisor). Someone else's order is NotFound, never 403, so ids are not
confirmed to strangers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from core.drivers import as_rows
from core.errors import Forbidden, NotFound
from core.paging import Page, keyset, page_of
from core.principal import Principal

from .domain import OrderStatus, normalise_readable
from .models import Order, OrderEvent


async def get_order(session: AsyncSession, order_id: str) -> Order:
    """The order with its items, or NotFound."""
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound(f"no order {order_id}")
    return order


ORDER_STAFF_ROLES = ("agent", "supervisor")  # staff who take bookings; finance/admin alone do not
# Finance reads every order (and its payments) to reconcile, and changes none.
ORDER_READ_ROLES = (*ORDER_STAFF_ROLES, "finance")


def may_see(order: Order, principal: Principal) -> bool:
    if principal.is_customer:
        return order.customer_id == principal.id
    return principal.has_any(*ORDER_READ_ROLES)


def check_order_reader(principal: Principal) -> None:
    """Reading orders: customers their own; staff with a booking role or finance."""
    if principal.is_agent and not principal.has_any(*ORDER_READ_ROLES):
        raise Forbidden("orders need the agent, supervisor or finance role")


def check_order_staff(principal: Principal) -> None:
    """Customers act on their own orders; staff need the agent or supervisor role to place,
    read or cancel anyone's (a finance-only or admin-only account takes no bookings)."""
    if principal.is_agent and not principal.has_any(*ORDER_STAFF_ROLES):
        raise Forbidden("orders need the agent or supervisor role")


async def get_order_for(session: AsyncSession, order_id: str, principal: Principal) -> Order:
    """As get_order, but a customer asking for someone else's order gets NotFound (not 403:
    we do not confirm that the id exists)."""
    order = await get_order(session, order_id)
    if not may_see(order, principal):
        raise NotFound(f"no order {order_id}")
    return order


async def order_history(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    rows = await session.scalars(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id)
        .order_by(OrderEvent.at, OrderEvent.id)
    )
    return list(rows)


async def list_orders(
    session: AsyncSession,
    principal: Principal,
    *,
    customer_id: str | None = None,
    status: OrderStatus | None = None,
    number: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
    with_items: bool = True,
) -> Page[Order]:
    """Newest first, keyset-paginated. A customer only ever sees their own orders. `number`
    is the order number as a caller reads it out (case, spaces and dashes do not matter).
    `with_items=False` skips the lines' query for a page that shows none (the caller's record);
    touching `items` then raises instead of loading them one order at a time."""
    stmt = select(Order)
    if not with_items:
        stmt = stmt.options(raiseload(Order.items))
    if number:
        stmt = stmt.where(Order.number == normalise_readable(number))
    check_order_reader(principal)
    if principal.is_customer:
        stmt = stmt.where(Order.customer_id == principal.id)
    elif customer_id:
        stmt = stmt.where(Order.customer_id == customer_id)
    if status is not None:
        stmt = stmt.where(Order.status == status.value)
    stmt = keyset(stmt, Order.created_at, Order.id, cursor=cursor, limit=limit)
    return page_of(list(await session.scalars(stmt)), limit, lambda o: (o.created_at, o.id))


async def recent_orders_on(
    driver: Any, principal: Principal, customer_id: str, *, limit: int
) -> list[Any]:
    """A staff member's first page of `list_orders(customer_id=..., with_items=False)` on an
    asyncpg connection (core.drivers): the order's own columns, newest first, as rows read by
    attribute; one plain statement for the caller's record, which shows them on every open."""
    check_order_reader(principal)
    if principal.is_customer and principal.id != customer_id:
        return []
    return as_rows(
        await driver.fetch(
            "SELECT id, number, customer_id, status, total, currency, channel, created_at,"
            " hold_expires_at FROM orders WHERE customer_id = $1"
            " ORDER BY created_at DESC, id DESC LIMIT $2",
            customer_id,
            limit,
        )
    )


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """What a short status line needs of an order (its items are not read)."""

    id: str
    number: str
    status: str
    total: int
    currency: str


def _summaries(by_number: bool) -> Any:  # a Select of OrderSummary's columns
    """Built once per shape (building a statement costs more than running it); values bound."""
    stmt = select(Order.id, Order.number, Order.status, Order.total, Order.currency).where(
        Order.customer_id == bindparam("customer_id")
    )
    if by_number:
        stmt = stmt.where(Order.number == bindparam("number"))
    return stmt.order_by(Order.created_at.desc(), Order.id.desc()).limit(bindparam("limit"))


_SUMMARIES = {False: _summaries(False), True: _summaries(True)}


async def order_summaries(
    session: AsyncSession, customer_id: str, *, number: str | None = None, limit: int = 3
) -> list[OrderSummary]:
    """A customer's orders, newest first (or the one with `number`, read out as a caller
    would), as `list_orders` would find them, in one read-only Core statement: a status
    text is answered often, and loading Order entities (identity map, and their items by
    selectin) cost several times the statement itself."""
    values: dict[str, object] = {"customer_id": customer_id, "limit": limit}
    if number:
        values["number"] = normalise_readable(number)
    rows = await session.execute(_SUMMARIES[bool(number)], values)
    return [OrderSummary(*row) for row in rows]


def summaries_sql(customer: str, limit: str, number: str | None = None) -> str:
    """`order_summaries` as plain SQL, its values given as SQL expressions: placeholders, or
    a column of an enclosing statement (the SMS channel reads a sender and their orders in
    one statement). Its rows are OrderSummary's columns, then `created_at` to order by."""
    by_number = f" AND number = {number}" if number else ""
    return (  # expressions written by our code (placeholders, columns), never a value
        "SELECT id, number, status, total, currency, created_at FROM orders"  # noqa: S608
        f" WHERE customer_id = {customer}{by_number}"
        f" ORDER BY created_at DESC, id DESC LIMIT {limit}"
    )


# `order_summaries` for an asyncpg connection (the SMS channel's STATUS, on its transaction's
# own connection): SQLAlchemy's statement machinery cost more than the read.
_SUMMARIES_PG = {False: summaries_sql("$1", "$2"), True: summaries_sql("$1", "$2", "$3")}


def summary_number(number: str) -> str:
    """An order number as `summaries_sql` compares it (read out as a caller would)."""
    return normalise_readable(number)


async def order_summaries_on(
    driver: Any, customer_id: str, *, number: str | None = None, limit: int = 3
) -> list[OrderSummary]:
    """`order_summaries` on an asyncpg connection (the same rows, in the same order)."""
    if number:
        found = await driver.fetch(
            _SUMMARIES_PG[True], customer_id, limit, normalise_readable(number)
        )
    else:
        found = await driver.fetch(_SUMMARIES_PG[False], customer_id, limit)
    return [OrderSummary(*row[:5]) for row in found]
