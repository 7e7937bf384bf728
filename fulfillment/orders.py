"""The commerce room as fulfillment sees it: a paid order's snapshot, and the order moving to
`fulfilling` / `fulfilled`. Commerce (and auth, for the recipient's phone, name and language)
are reached only through their package exports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import auth
import commerce
from core.errors import NotFound
from fulfillment.schemas import OrderItem, OrderSnapshot


def booking_codes(order_number: str, offer_code: str, quantity: int) -> tuple[str, ...]:
    """One code per ticket, derived from the order so a retried job sends the same codes."""
    return tuple(f"{order_number}-{offer_code}-{n}" for n in range(1, quantity + 1))


async def _recipient(session: AsyncSession, customer_id: str) -> tuple[str, str, str]:
    """(name, phone, language) of the order's customer.

    A customer erased since ordering (or an order placed for an id auth never had) still
    ships: the partner gets the address on the order and an empty name and phone, which a
    courier can deliver and an e-ticket partner fails on visibly, rather than the job
    retrying forever.
    """
    try:
        customer = await auth.get_customer(session, customer_id)
    except NotFound:
        return "", "", "zh"
    return customer.name or "", customer.phone, "en" if customer.locale.startswith("en") else "zh"


def _snapshot(order: commerce.Order, name: str, phone: str, language: str) -> OrderSnapshot:
    method = "courier" if order.delivery_method == commerce.DeliveryMethod.COURIER else "eticket"
    return OrderSnapshot(
        order_id=order.id,
        order_number=order.number,
        delivery_method=method,
        recipient_name=name,
        recipient_phone=phone,
        address=order.delivery_address or "",
        language=language,
        status=str(order.status),
        items=tuple(
            OrderItem(
                name=item.title,
                quantity=item.quantity,
                codes=booking_codes(order.number, item.offer_code, item.quantity),
            )
            for item in order.items
        ),
    )


class CommerceOrders:
    """OrderGateway over the commerce room's public API."""

    async def snapshot(self, session: AsyncSession, order_id: str) -> OrderSnapshot | None:
        try:
            order = await commerce.get_order(session, order_id)
        except NotFound:
            return None
        return _snapshot(order, *await _recipient(session, order.customer_id))

    async def snapshots(self, session: AsyncSession, order_ids: list[str]) -> list[OrderSnapshot]:
        """`snapshot` for many orders in three queries (orders, their items, their customers);
        an order not found is left out."""
        orders = list(
            await session.scalars(select(commerce.Order).where(commerce.Order.id.in_(order_ids)))
        )
        wanted = {o.customer_id for o in orders if o.customer_id}
        found = await session.scalars(select(auth.Customer).where(auth.Customer.id.in_(wanted)))
        customers = {c.id: c for c in found}
        out = []
        for order in orders:
            customer = customers.get(order.customer_id)
            if customer is None:  # erased: ships without name and phone, as in _recipient
                out.append(_snapshot(order, "", "", "zh"))
            else:
                language = "en" if customer.locale.startswith("en") else "zh"
                out.append(_snapshot(order, customer.name or "", customer.phone, language))
        return out

    async def mark_many(
        self, session: AsyncSession, order_ids: list[str], *, now: datetime
    ) -> set[str]:
        """paid -> fulfilling for many orders at once; returns those that moved."""
        return await commerce.move_many(
            session,
            order_ids,
            commerce.OrderStatus.PAID,
            commerce.OrderStatus.FULFILLING,
            actor="system:fulfillment",
            channel="system",
            reason="shipments created",
            now=now,
        )

    async def mark(self, session: AsyncSession, order_id: str, to: str, *, now: datetime) -> None:
        order = await commerce.get_order(session, order_id)
        target = commerce.OrderStatus(to)
        current = commerce.OrderStatus(order.status)
        if current is target:
            return
        if target is commerce.OrderStatus.FULFILLED and current is commerce.OrderStatus.PAID:
            await commerce.transition(
                session,
                order_id,
                commerce.OrderStatus.FULFILLING,
                actor="system:fulfillment",
                channel="system",
                reason="shipments created",
                now=now,
            )
        elif not commerce.can_transition(current, target):
            return  # cancelled or refunded meanwhile: nothing for fulfillment to change
        await commerce.transition(
            session,
            order_id,
            target,
            actor="system:fulfillment",
            channel="system",
            reason="all shipments delivered" if to == "fulfilled" else "shipments created",
            now=now,
        )
