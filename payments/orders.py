"""What payments needs from orders and from the SMS sender, as ports.

`api/composition.py` plugs the commerce room in (`PaymentDeps.orders`); tests of this room
may plug a stand-in (`build_services(runtime, payment_orders=...)`). Payments never imports
api/.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.principal import Principal

MarkPaidOutcome = Literal["paid", "already_paid", "rehold_failed", "not_payable"]


@dataclass(frozen=True, slots=True)
class OrderInfo:
    id: str
    number: str
    customer_id: str
    status: str
    currency: str
    subtotal: int
    booking_fee: int
    delivery_fee: int
    total: int
    hold_expires_at: datetime
    customer_phone: str | None = None
    channel: str | None = None  # phone | sms | web: finance's takings per channel


class OrderPort(Protocol):
    async def get(
        self, session: AsyncSession, order_id: str, principal: Principal | None
    ) -> OrderInfo:
        """The order (NotFound when missing or not the principal's)."""
        ...

    async def mark_paid(
        self,
        session: AsyncSession,
        order_id: str,
        *,
        actor: str,
        channel: str,
        reason: str,
        now: datetime,
    ) -> MarkPaidOutcome: ...

    async def refunded(
        self, session: AsyncSession, order_id: str, *, actor: str, reason: str, now: datetime
    ) -> None:
        """A refund went out: a fulfilled order moves to `refunded` (others keep their state)."""
        ...


class Notifier(Protocol):
    async def send(
        self,
        session: AsyncSession,
        to: str,
        body: str,
        *,
        purpose: str,
        order_id: str | None = None,
    ) -> object: ...


def actor_channel(actor: str) -> tuple[str, str]:
    kind = actor.split(":", 1)[0]
    if kind == "agent":
        return actor, "phone"
    if kind == "customer":
        return actor, "web"
    return (actor if kind == "system" else f"system:{actor}"), "system"


async def _customer_phone(session: AsyncSession, customer_id: str) -> str | None:
    """The customer's phone (E.164) from the auth room, when it offers `get_customer`."""
    auth: Any = importlib.import_module("auth")
    lookup = getattr(auth, "get_customer", None)
    if lookup is None:
        return None
    try:
        customer = await lookup(session, customer_id)
    except NotFound:
        return None
    phone = getattr(customer, "phone", None) if customer is not None else None
    return str(phone) if phone else None


class CommerceOrders:
    """The order port on the commerce room's public surface."""

    async def get(
        self, session: AsyncSession, order_id: str, principal: Principal | None
    ) -> OrderInfo:
        import commerce

        order = await (
            commerce.get_order(session, order_id)
            if principal is None
            else commerce.get_order_for(session, order_id, principal)
        )
        return OrderInfo(
            id=order.id,
            number=order.number,
            customer_id=order.customer_id,
            status=str(order.status),
            currency=order.currency,
            subtotal=order.subtotal,
            booking_fee=order.booking_fee,
            delivery_fee=order.delivery_fee,
            total=order.total,
            hold_expires_at=order.hold_expires_at,
            customer_phone=await _customer_phone(session, order.customer_id),
            channel=str(order.channel),
        )

    async def mark_paid(
        self,
        session: AsyncSession,
        order_id: str,
        *,
        actor: str,
        channel: str,
        reason: str,
        now: datetime,
    ) -> MarkPaidOutcome:
        import commerce

        who, via = actor_channel(actor)
        result = await commerce.mark_paid(
            session, order_id, actor=who, channel=via, reason=reason, now=now
        )
        return result.outcome

    async def refunded(
        self, session: AsyncSession, order_id: str, *, actor: str, reason: str, now: datetime
    ) -> None:
        import commerce

        order = await commerce.get_order(session, order_id)
        if order.status not in ("fulfilled", "refunded"):
            return
        who, via = actor_channel(actor)
        await commerce.transition(
            session,
            order_id,
            commerce.OrderStatus.REFUNDED,
            actor=who,
            channel=via,
            reason=reason,
            now=now,
        )
