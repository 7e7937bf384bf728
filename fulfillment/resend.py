"""Resending an e-ticket: the codes of a customer's latest e-ticket shipment texted again (the
caller lost the SMS). Only a shipment the e-ticket partner already sent can be resent, to the
number it went to, in its language; the SMS is queued in the caller's transaction like every
other (core.sms), so nothing is sent if that transaction rolls back."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import commerce
from fulfillment.domain import ShipmentStatus
from fulfillment.models import Partner, Shipment
from fulfillment.order_texts import queue_codes
from fulfillment.service import SmsPort

SENT = (ShipmentStatus.DISPATCHED.value, ShipmentStatus.DELIVERED.value)


@dataclass(frozen=True)
class Resent:
    order_number: str
    shipment_id: str


async def resend_latest_eticket(
    session: AsyncSession, sms: SmsPort, customer_id: str
) -> Resent | None:
    """Queue the latest sent e-ticket of this customer again; None when there is none."""
    row = (
        await session.execute(
            select(Shipment, commerce.Order.number)
            .join(Partner, Partner.id == Shipment.partner_id)
            .join(commerce.Order, commerce.Order.id == Shipment.order_id)
            .where(
                commerce.Order.customer_id == customer_id,
                Partner.kind == "eticket",
                Shipment.status.in_(SENT),
            )
            .order_by(Shipment.created_at.desc(), Shipment.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    shipment, number = row
    await queue_codes(session, sms, shipment)
    return Resent(order_number=number, shipment_id=shipment.id)
