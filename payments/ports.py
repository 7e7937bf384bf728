"""What the payments use cases share: their ports (`PaymentDeps`), the gateway they need, the
payment row lock, and how gateway trouble outside a charge is answered. Below both
`service` and `refunds`, so neither imports the other back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, UpstreamUnavailable, ValidationFailed
from payments.errors import PaymentOutcomeUnknown
from payments.gateway import Gateway, GatewayError, GatewayUnknown
from payments.models import Payment
from payments.orders import Notifier, OrderPort

log = structlog.get_logger("hotline.payments")


@dataclass
class PaymentDeps:
    orders: OrderPort
    gateway: Gateway | None
    public_base_url: str
    notifier: Notifier | None = None


GATEWAY_RETRY_AFTER = 5  # seconds; Stripe redelivers on its own schedule anyway


@asynccontextmanager
async def upstream() -> AsyncIterator[None]:
    """Gateway trouble outside a charge becomes 503 (Stripe and browsers retry), never a 500.
    The gateway's own message goes to the log, not to the caller: it names our account's
    objects and settings."""
    retry = {"Retry-After": str(GATEWAY_RETRY_AFTER)}
    try:
        yield
    except GatewayUnknown as exc:
        log.warning("payment gateway unreachable", error=str(exc)[:300])
        raise PaymentOutcomeUnknown(
            "The payment gateway did not answer; retry after the Retry-After seconds.",
            headers=retry,
        ) from exc
    except GatewayError as exc:
        log.warning("payment gateway refused", error=str(exc)[:300])
        raise UpstreamUnavailable(
            "The payment gateway refused the request; retry after the Retry-After seconds.",
            headers=retry,
        ) from exc


def require_gateway(deps: PaymentDeps) -> Gateway:
    if deps.gateway is None:
        raise ValidationFailed.field("method", "card payments are not configured here")
    return deps.gateway


async def lock_payment(session: AsyncSession, payment_id: str) -> Payment:
    """The payment's row, locked, its attributes as the row now is (populate_existing: an
    instance the session already holds is overwritten by the locked read, which a separate
    refresh did in one more round trip)."""
    payment = await session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None:
        raise NotFound("payment not found")
    return payment
