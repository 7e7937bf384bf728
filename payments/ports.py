"""What the payments use cases share: their ports (`PaymentDeps`), the gateway they need, the
payment row lock, and how gateway trouble outside a charge is answered. Below both
`service` and `refunds`, so neither imports the other back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, UpstreamUnavailable, ValidationFailed
from payments.errors import PaymentOutcomeUnknown
from payments.gateway import Gateway, GatewayError, GatewayUnknown
from payments.models import Payment
from payments.orders import Notifier, OrderPort


@dataclass
class PaymentDeps:
    orders: OrderPort
    gateway: Gateway | None
    public_base_url: str
    notifier: Notifier | None = None


@asynccontextmanager
async def upstream() -> AsyncIterator[None]:
    """Gateway trouble outside a charge becomes 503 (Stripe and browsers retry), never a 500."""
    try:
        yield
    except GatewayUnknown as exc:
        raise PaymentOutcomeUnknown(str(exc)) from exc
    except GatewayError as exc:
        raise UpstreamUnavailable(f"payment gateway refused: {exc}") from exc


def require_gateway(deps: PaymentDeps) -> Gateway:
    if deps.gateway is None:
        raise ValidationFailed.field("method", "card payments are not configured here")
    return deps.gateway


async def lock_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await session.scalar(
        select(Payment).where(Payment.id == payment_id).with_for_update()
    )
    if payment is None:
        raise NotFound("payment not found")
    await session.refresh(payment)
    return payment
