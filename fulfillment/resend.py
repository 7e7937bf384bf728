"""Resending an order's e-ticket codes (the SMS channel's TICKET command): the same text the
`eticket` partner sent, queued again through the SMS port in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.sms import SmsSender
from fulfillment.domain import ShipmentStatus, eticket_text
from fulfillment.models import Partner, Shipment


async def resend_eticket(session: AsyncSession, sms: SmsSender, order_id: str) -> bool:
    """Queue the codes of the order's delivered e-ticket shipments again; False when it has
    none (not paid yet, a courier order, or its codes are not issued yet)."""
    rows = await session.scalars(
        select(Shipment)
        .join(Partner, Partner.id == Shipment.partner_id)
        .where(
            Shipment.order_id == order_id,
            Partner.kind == "eticket",
            Shipment.status == ShipmentStatus.DELIVERED.value,
        )
        .order_by(Shipment.created_at)
    )
    sent = False
    for shipment in rows:
        phone = shipment.request["recipient"]["phone"]
        body = eticket_text(shipment.request, shipment.language)
        await sms.send(session, phone, body, purpose="eticket", order_id=order_id)
        sent = True
    return sent
