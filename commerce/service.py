"""Order use cases: place, pay, move through the lifecycle, expire (reading: reading.py).

Every function takes the caller's AsyncSession and never commits (the request, job or CLI
owns the transaction). Status changes are conditional updates (`... WHERE status = :from`),
so two actors racing on one order (a sweeper and a late payment, two cancels) resolve to one
winner, and capacity is released exactly once by whoever won.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Unpack, cast

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from core.db import insert_many, is_postgres, new_id
from core.errors import Busy
from core.outbox import emit
from core.principal import Principal
from core.settings import Settings
from core.text import check_plain_text

from . import capacity
from .domain import (
    HOLDING,
    LineRequest,
    OrderStatus,
    check_actor,
    check_reason,
    check_transition,
    releases_capacity,
)
from .draft import OrderRequest
from .models import Order, OrderEvent
from .placing import placement_in
from .reading import get_order, get_order_for

# Outbox facts of this room (commerce.TOPICS lists them for the start-up route check).
TOPIC_ORDER_PAID = "order.paid"
TOPIC_ORDER_CANCELLED = "order.cancelled"

S = OrderStatus


async def place_order(
    session: AsyncSession,
    *,
    settings: Settings,
    now: datetime,
    **order: Unpack[OrderRequest],
) -> Order:
    """Hold capacity and create an `awaiting_payment` order, all in the caller's transaction:
    the placement port's `place_in` (commerce/placing.py) for a caller that has a session and
    no runtime. Commit promptly after this returns: the hot offer rows stay locked until then.

    Raises ValidationFailed (bad lines, unknown or started offer), SoldOut (409, naming the
    offer) or Busy (409 + Retry-After: the price changed, or the offer's row stays locked
    longer than the lock timeout). Who may order for whom is the caller's check (see
    `check_order_staff`). A request that does nothing but place the order uses
    `placement(runtime).place` instead."""
    placed = await placement_in(session, settings).place_in(session, now=now, **order)
    return cast(Order, placed)


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
            reason=reason,
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
    # What the UPDATE wrote, as loaded state: plain assignments would mark the order dirty
    # and make the flush write the same status again (a second UPDATE per transition).
    set_committed_value(order, "status", to.value)
    set_committed_value(order, "updated_at", now)
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
    check_reason(reason)
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


async def move_many(
    session: AsyncSession,
    order_ids: list[str],
    current: OrderStatus,
    to: OrderStatus,
    *,
    actor: str,
    channel: str,
    reason: str,
    now: datetime,
) -> set[str]:
    """`transition` for many orders known to be in `current`, in two statements: a conditional
    UPDATE and the history rows. Returns the ids that moved; an order someone else changed
    first stays as it is (the caller takes the plain path for it). Only for moves without side
    effects (no capacity released, nothing emitted): fulfillment's paid -> fulfilling."""
    check_actor(actor, channel)
    check_reason(reason)
    check_transition(current, to)
    if releases_capacity(current, to) or to in (S.CANCELLED, S.REFUNDED):
        raise ValueError(f"move_many cannot move {current.value} -> {to.value}")
    if not order_ids:
        return set()
    moved = set(
        await session.scalars(
            update(Order)
            .where(Order.id.in_(order_ids), Order.status == current.value)
            .values(status=to.value, updated_at=now)
            .returning(Order.id)
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        await insert_many(session, OrderEvent,
            [
                {"id": new_id(), "order_id": order_id, "from_status": current.value,
                 "to_status": to.value, "actor": actor, "channel": channel,
                 "reason": reason, "at": now}
                for order_id in sorted(moved)
            ],
        )  # fmt: skip
    return moved


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
    check_reason(reason)
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
    check_reason(reason)
    check_plain_text("reason", reason, lines=True)
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
