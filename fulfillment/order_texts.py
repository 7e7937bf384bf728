"""Resending an order's e-ticket codes (the SMS channel's TICKET command): the same text the
`eticket` partner sent, queued again through the SMS port in the caller's transaction. And
the dead letter of any text whose sends ran out (core.sms_delivery's `on_failed`): the one
list an operator reads and replays (`hotline dead-letters`, /v1/admin/dead-letters)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import new_id
from core.sms import SmsMessage, SmsSender
from fulfillment.domain import ShipmentStatus, eticket_text
from fulfillment.models import DeadLetter, Partner, Shipment
from fulfillment.service import SmsPort

SMS_FAILED = "sms_failed"


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
        await queue_codes(session, sms, shipment)
        sent = True
    return sent


async def queue_codes(session: AsyncSession, sms: SmsPort, shipment: Shipment) -> None:
    """The e-ticket text again, to the number and in the language the partner used."""
    phone = shipment.request["recipient"]["phone"]
    body = eticket_text(shipment.request, shipment.language)
    await sms.send(session, phone, body, purpose="eticket", order_id=shipment.order_id)


async def dead_letter_sms(
    session: AsyncSession, sms_id: str, attempts: int, error: str, *, now: datetime
) -> None:
    """Record a text that failed for good, in the transaction that marks it failed."""
    order_id = await session.scalar(select(SmsMessage.order_id).where(SmsMessage.id == sms_id))
    session.add(
        DeadLetter(
            id=new_id(),
            reason=SMS_FAILED,
            sms_id=sms_id,
            order_id=order_id,
            attempts=attempts,
            last_error=error[:500],
            created_at=now,
        )
    )
