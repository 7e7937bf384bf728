"""Whether a pay link's order can still take money. A cancelled or expired order cannot: the
pay page says so and a charge is refused before any PaymentIntent exists, instead of charging
the card and refunding it with an incident."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from payments.errors import OrderNotPayable
from payments.models import Payment
from payments.orders import OrderPort

# Commerce's final states of an order that was never paid, or whose payment is being refunded.
NOT_PAYABLE = frozenset({"cancelled", "expired"})


async def payment_for_token(session: AsyncSession, token: str) -> Payment:
    """The pay link's attempt whatever its state or expiry (NotFound when there is none)."""
    payment = await session.scalar(select(Payment).where(Payment.pay_token == token))
    if payment is None:
        raise NotFound("no such pay link")
    return payment


async def unpayable_status(
    session: AsyncSession, orders: OrderPort, payment: Payment, now: datetime
) -> str | None:
    """The order's status when it can no longer be paid, else None. A lapsed hold counts as
    expired before commerce's expiry job gets to it (it runs every few seconds)."""
    order = await orders.get(session, payment.order_id, None)
    if order.status == "awaiting_payment" and order.hold_expires_at <= now:
        return "expired"
    return order.status if order.status in NOT_PAYABLE else None


async def check_payable(
    session: AsyncSession, orders: OrderPort, token: str, now: datetime
) -> Payment:
    """The pay link's attempt, or OrderNotPayable (409) when its order was cancelled or
    expired. Checked before the link's own expiry, so an expired order says why."""
    payment = await payment_for_token(session, token)
    status = await unpayable_status(session, orders, payment, now)
    if status is not None:
        raise OrderNotPayable.for_order(payment.order_number, status)
    return payment
