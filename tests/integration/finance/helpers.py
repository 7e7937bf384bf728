"""Our books written directly (payments, refunds, partner payables) on days of their own, and
counterparty files generated in memory, for the reconciliation tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from fulfillment.models import Partner, PartnerPayable, Shipment
from payments.models import Payment, Refund

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: str, hhmm: str = "10:00") -> datetime:
    """A time of a business day (Asia/Shanghai), in UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=SHANGHAI).astimezone(UTC)


def add_payment(
    s: AsyncSession,
    *,
    method: str,
    amount: int,
    at: datetime,
    status: str = "succeeded",
    currency: str = "CNY",
    intent_id: str | None = None,
    channel: str = "phone",
) -> Payment:
    p = Payment(
        id=uuid.uuid4().hex,
        order_id=uuid.uuid4().hex,
        order_number="HL" + uuid.uuid4().hex[:8].upper(),
        customer_id=uuid.uuid4().hex,
        method=method,
        status=status,
        amount=amount,
        currency=currency,
        subtotal=amount,
        booking_fee=0,
        delivery_fee=0,
        refunded_amount=0,
        disputed_amount=0,
        request_key=uuid.uuid4().hex,
        intent_id=intent_id,
        actor="system:test",
        created_at=at,
        updated_at=at,
        channel=channel,
    )
    s.add(p)
    return p


def add_refund(
    s: AsyncSession, payment: Payment, amount: int, at: datetime, gateway_ref: str | None = None
) -> Refund:
    r = Refund(
        id=uuid.uuid4().hex,
        payment_id=payment.id,
        order_id=payment.order_id,
        amount=amount,
        currency=payment.currency,
        status="succeeded",
        reason="test",
        request_key=uuid.uuid4().hex,
        gateway_ref=gateway_ref,
        actor="system:test",
        created_at=at,
        updated_at=at,
    )
    s.add(r)
    return r


async def add_partner(s: AsyncSession) -> Partner:
    partner = Partner(
        code="p" + uuid.uuid4().hex[:10],
        name="test courier",
        kind="http",
        delivery_method="courier",
        endpoint_url="http://127.0.0.1:1/",
        secret="x" * 32,
        cost_minor=1500,
        currency="CNY",
        active=True,
        created_at=datetime.now(UTC),
    )
    s.add(partner)
    await s.flush()
    return partner


async def add_payable(s: AsyncSession, partner: Partner, amount: int, at: datetime) -> str:
    shipment = Shipment(
        order_id=uuid.uuid4().hex,
        partner_id=partner.id,
        status="delivered",
        request={},
        created_at=at,
        updated_at=at,
    )
    s.add(shipment)
    await s.flush()
    s.add(
        PartnerPayable(
            shipment_id=shipment.id,
            partner_id=partner.id,
            amount_minor=amount,
            currency="CNY",
            created_at=at,
        )
    )
    return shipment.id


async def chunks(text: str, size: int = 64) -> AsyncIterator[bytes]:
    """A file's bytes in small pieces (a line may be cut anywhere, as on the wire)."""
    data = text.encode()
    for i in range(0, len(data), size):
        yield data[i : i + size]


def window_after(day: str) -> datetime:
    """The run's `now` a long time after the day: nothing of it is still pending."""
    return local(day) + timedelta(days=30)
