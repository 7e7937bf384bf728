"""Order use cases: place, pay, move through the lifecycle, expire (reading: reading.py).

Every function takes the caller's AsyncSession and never commits (the request, job or CLI
owns the transaction). Status changes are conditional updates (`... WHERE status = :from`),
so two actors racing on one order (a sweeper and a late payment, two cancels) resolve to one
winner, and capacity is released exactly once by whoever won.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Unpack, cast

from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from core.db import is_postgres
from core.errors import Busy, ValidationFailed
from core.outbox import emit
from core.principal import Principal
from core.settings import Settings

from . import capacity
from .domain import (
    HOLDING,
    LineRequest,
    OrderStatus,
    check_actor,
    check_transition,
    new_order_number,
    releases_capacity,
)
from .draft import OrderRequest, check_request, draft_order
from .models import Order, OrderEvent, OrderItem
from .reading import get_order, get_order_for

# Outbox facts of this room (commerce.TOPICS lists them for the start-up route check).
TOPIC_ORDER_PAID = "order.paid"
TOPIC_ORDER_CANCELLED = "order.cancelled"

S = OrderStatus
# Table-level statements on the hot path skip the ORM's per-statement bookkeeping.
ORDERS = cast(Table, Order.__table__)
ITEMS = cast(Table, OrderItem.__table__)
EVENTS = cast(Table, OrderEvent.__table__)


async def place_order(
    session: AsyncSession,
    *,
    settings: Settings,
    now: datetime,
    before_hold: Callable[[Order], Awaitable[None]] | None = None,
    **order: Unpack[OrderRequest],
) -> Order:
    """Hold capacity and create an `awaiting_payment` order, all in the caller's transaction.
    Commit promptly after this returns: the hot offer rows stay locked until then. Whatever
    else the caller writes in this transaction (e.g. its Idempotency-Key response) belongs in
    `before_hold`, which runs after the order is written and before the locks are taken.

    Raises ValidationFailed (bad lines, unknown offer), SoldOut (409, naming the offer) or
    Busy (409 + Retry-After when the offer's row stays locked longer than the lock timeout).
    Who may order for whom is the caller's check (see `check_may_order_for`). A request that
    does nothing but place the order uses placing.place_order_committed instead."""
    asked = check_request(order)
    held = await capacity.quote(session, asked.lines, now=now)
    draft = draft_order(held, asked, settings=settings, now=now)
    values, items, event = draft.values, draft.items, draft.event
    # Core statements, not the unit of work: this is the rush's hot path, and each saved
    # round trip is time the offer row is not waited for.
    try:
        # The items' foreign key takes a share lock on each offer row: a row locked FOR
        # UPDATE elsewhere (a long admin edit) makes this wait, up to the lock timeout.
        if is_postgres(session):
            number = await _insert_order_items_event(session, values, items, event)
        else:
            number = await _insert_with_unique_number(session, values)
            await session.execute(insert(ITEMS), items)
            await session.execute(_INSERT_EVENT, event)
    except DBAPIError as exc:
        raise capacity.busy_or_raise(exc) from None
    placed = _attach(session, Order(number=number, **values), [OrderItem(**i) for i in items])
    if before_hold is not None:
        await before_hold(placed)
    # Last: the conditional update takes the offer rows' locks, held until the commit.
    await capacity.hold(session, held, guarded=capacity.guarded(settings))
    return placed


def _attach(session: AsyncSession, order: Order, items: list[OrderItem]) -> Order:
    """Hand back ORM objects for rows written with core statements, as if loaded."""
    for obj in (order, *items):
        make_transient_to_detached(obj)
        session.add(obj)
    set_committed_value(order, "items", items)
    return order


# Built once: statements made per request (`.values(...)`) cost the rush more Python time
# in SQLAlchemy's construction and cache-key hashing than their round trips.
_INSERT_EVENT = insert(EVENTS)
# PostgreSQL: the items (any number of them, as arrays) and the first history row in one
# statement and one round trip; same text for every order, so asyncpg reuses its prepare.
_ITEM_ARRAYS = (
    ("id", "text"),
    ("offer_id", "text"),
    ("offer_code", "text"),
    ("title", "text"),
    ("starts_at", "timestamptz"),
    ("quantity", "int"),
    ("unit_price", "int"),
    ("line_total", "int"),
)
_ORDER_COLUMNS = [c.name for c in ORDERS.columns]
# The order, its items and its first history row in one statement: items and history read
# the order's id from the order's own RETURNING, so when the number collides (ON CONFLICT
# DO NOTHING returns no row) nothing at all is written and the caller draws again. The
# foreign keys are checked at the statement's end, when the order row exists.
_INSERT_ORDER_ITEMS_EVENT = text(
    "WITH o AS (INSERT INTO orders ("  # noqa: S608 (module constants only)
    + ", ".join(_ORDER_COLUMNS)
    + ") VALUES ("
    + ", ".join(f":o_{name}" for name in _ORDER_COLUMNS)
    + ") ON CONFLICT (number) DO NOTHING RETURNING id),"
    " items AS (INSERT INTO order_items (order_id, "
    + ", ".join(name for name, _ in _ITEM_ARRAYS)
    + ") SELECT o.id, i.* FROM o, unnest("
    + ", ".join(f"CAST(:item_{name} AS {kind}[])" for name, kind in _ITEM_ARRAYS)
    + ") AS i),"
    " events AS (INSERT INTO order_events"
    " (id, order_id, from_status, to_status, actor, channel, reason, at)"
    " SELECT CAST(:id AS text), o.id, CAST(:from_status AS text), CAST(:to_status AS text),"
    " CAST(:actor AS text), CAST(:channel AS text), CAST(:reason AS text),"
    " CAST(:at AS timestamptz) FROM o)"
    " SELECT count(*) FROM o"
)


async def _insert_order_items_event(
    session: AsyncSession,
    values: dict[str, object],
    items: list[dict[str, object]],
    event: dict[str, object],
) -> str:
    """PostgreSQL: `_insert_with_unique_number` plus the items and history, one round trip."""
    params = dict(event)
    for name, _ in _ITEM_ARRAYS:
        params[f"item_{name}"] = [item[name] for item in items]
    for _ in range(5):
        number = new_order_number()
        # Every column by name (KeyError, not a silent NULL, if the table grows one): the
        # statement lists them all, so column defaults would not apply here.
        params.update({f"o_{name}": values[name] for name in _ORDER_COLUMNS if name != "number"})
        params["o_number"] = number
        try:
            inserted = await session.scalar(_INSERT_ORDER_ITEMS_EVENT, params)
        except IntegrityError:
            raise ValidationFailed.field("customer_id", "no such customer") from None
        if inserted:
            return number
    raise RuntimeError("could not draw a unique order number")


# SQLite's order insert (PostgreSQL's goes in one statement with its items and history).
_INSERT_ORDER_SQLITE = (
    sqlite.insert(ORDERS).on_conflict_do_nothing(index_elements=["number"]).returning(ORDERS.c.id)
)


async def _insert_with_unique_number(session: AsyncSession, values: dict[str, object]) -> str:
    """Order numbers are random (31^8 of them); on the rare collision with the unique index,
    draw again. ON CONFLICT DO NOTHING keeps the transaction usable for the retry."""
    stmt = _INSERT_ORDER_SQLITE
    for _ in range(5):
        number = new_order_number()
        try:
            inserted = await session.scalar(stmt, {**values, "number": number})
        except IntegrityError:
            raise ValidationFailed.field("customer_id", "no such customer") from None
        if inserted is not None:
            return number
    raise RuntimeError("could not draw a unique order number")


def _record(
    session: AsyncSession,
    order_id: str,
    from_status: OrderStatus | None,
    to_status: OrderStatus,
    actor: str,
    channel: str,
    reason: str,
    now: datetime,
) -> None:
    session.add(
        OrderEvent(
            order_id=order_id,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value,
            actor=actor,
            channel=channel,
            reason=reason[:500],
            at=now,
        )
    )


# --- lifecycle ---------------------------------------------------------------------------


def _lines(order: Order) -> list[LineRequest]:
    return [LineRequest(i.offer_id, i.quantity) for i in order.items]


async def _move(
    session: AsyncSession, order: Order, current: OrderStatus, to: OrderStatus, now: datetime
) -> bool:
    """Conditional status change; False when someone else changed the order first."""
    moved = await session.scalar(
        update(Order)
        .where(Order.id == order.id, Order.status == current.value)
        .values(status=to.value, updated_at=now)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        return False
    order.status = to.value
    order.updated_at = now
    return True


async def _reload(session: AsyncSession, order: Order) -> OrderStatus:
    await session.refresh(order, ["status", "updated_at"])
    return OrderStatus(order.status)


async def transition(
    session: AsyncSession,
    order_id: str,
    to: OrderStatus,
    *,
    actor: str,
    channel: str,
    reason: str,
    now: datetime,
) -> Order:
    """Move an order to `fulfilling`, `fulfilled`, `cancelled` or `refunded` (use mark_paid for
    `paid`). Writes a history row. Already in `to` (a retried job) is a no-op, except for
    `refunded` where each call is another (partial) refund. Cancelling releases held capacity
    exactly once. Cancelling emits `order.cancelled` {order_id, was}: payments voids the
    order's unused pay links and refunds what was captured."""
    check_actor(actor, channel)
    if to is S.PAID:
        raise ValueError("use mark_paid to make an order paid")
    order = await get_order(session, order_id)
    current = OrderStatus(order.status)
    for _ in range(3):
        if current is to and to is not S.REFUNDED:
            return order
        check_transition(current, to)
        if await _move(session, order, current, to, now):
            if releases_capacity(current, to):
                await capacity.release(session, _lines(order))
            if to is S.CANCELLED:
                emit(
                    session,
                    TOPIC_ORDER_CANCELLED,
                    {"order_id": order.id, "was": current.value},
                    now=now,
                )
            _record(session, order.id, current, to, actor, channel, reason, now)
            return order
        current = await _reload(session, order)
    raise Busy("the order is changing right now; retry shortly", retry_after=1)


@dataclass(frozen=True, slots=True)
class MarkPaidResult:
    """What mark_paid did. `rehold_failed`: the payment cannot be kept (the hold lapsed and the
    seats are gone, or the order was cancelled) and payments must refund it."""

    order: Order
    outcome: Literal["paid", "already_paid", "rehold_failed", "not_payable"]

    @property
    def changed(self) -> bool:
        return self.outcome == "paid"

    @property
    def rehold_failed(self) -> bool:
        return self.outcome in ("rehold_failed", "not_payable")


async def mark_paid(
    session: AsyncSession,
    order_id: str,
    *,
    actor: str,
    channel: str,
    reason: str,
    now: datetime,
) -> MarkPaidResult:
    """Record that the order was paid. Idempotent: an order already paid (or further along) is
    a no-op. A payment that lands after the hold expired re-holds the seats if they are still
    free; if not, the result says `rehold_failed` and the order stays expired. On becoming paid
    it emits outbox `order.paid` {order_id} in this transaction."""
    check_actor(actor, channel)
    order = await get_order(session, order_id)
    current = OrderStatus(order.status)
    for _ in range(3):
        if current in (S.PAID, S.FULFILLING, S.FULFILLED, S.REFUNDED):
            return MarkPaidResult(order, "already_paid")
        if current is S.CANCELLED:
            return MarkPaidResult(order, "not_payable")
        if current is S.EXPIRED:
            # Claim the order first so a concurrent second payment cannot re-hold twice.
            if not await _move(session, order, S.EXPIRED, S.PAID, now):
                current = await _reload(session, order)
                continue
            if not await capacity.rehold(session, _lines(order)):
                await _move(session, order, S.PAID, S.EXPIRED, now)
                return MarkPaidResult(order, "rehold_failed")
            reason = f"{reason} (hold had lapsed; seats held again)"
        elif not await _move(session, order, current, S.PAID, now):
            current = await _reload(session, order)
            continue
        _record(session, order.id, current, S.PAID, actor, channel, reason, now)
        emit(session, TOPIC_ORDER_PAID, {"order_id": order.id}, now=now)
        return MarkPaidResult(order, "paid")
    raise Busy("the order is changing right now; retry shortly", retry_after=1)


async def cancel_order(
    session: AsyncSession,
    order_id: str,
    principal: Principal,
    *,
    reason: str,
    channel: str | None = None,
    now: datetime,
) -> Order:
    """The owner or an agent cancels: seats go back; a paid order is refunded by payments."""
    await get_order_for(session, order_id, principal)
    return await transition(
        session,
        order_id,
        S.CANCELLED,
        actor=principal.actor,
        channel=channel or principal.channel,
        reason=reason or "cancelled on request",
        now=now,
    )


async def expire_due_holds(session: AsyncSession, now: datetime, *, batch: int = 200) -> int:
    """Expire `awaiting_payment` orders whose hold has lapsed and give their seats back.

    Safe with several sweepers at once: on PostgreSQL each claims rows with SKIP LOCKED, and
    every expiry is a conditional status change, so each order's seats are released once.
    The seats of the whole batch go back together, per offer in offer-id order (the order
    holds lock in), never order by order in expiry order, which would lock offer B before A.
    Returns how many orders this call expired."""
    stmt = (
        select(Order)
        .where(Order.status == S.AWAITING_PAYMENT.value, Order.hold_expires_at <= now)
        .order_by(Order.hold_expires_at)
        .limit(batch)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True, of=Order)
    expired: list[Order] = []
    for order in list(await session.scalars(stmt)):
        if await _move(session, order, S.AWAITING_PAYMENT, S.EXPIRED, now):
            expired.append(order)
            _record(
                session,
                order.id,
                S.AWAITING_PAYMENT,
                S.EXPIRED,
                "system",
                "system",
                "hold lapsed unpaid",
                now,
            )
    # Only orders whose status change this call won give seats back: exactly once.
    await capacity.release(session, [line for order in expired for line in _lines(order)])
    return len(expired)


def holds_capacity(order: Order) -> bool:
    return OrderStatus(order.status) in HOLDING
