"""A customer's SMS conversation for agents: every text in and out, newest first."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.paging import keyset, page_of
from core.sms import SmsMessage


class MessageOut(msgspec.Struct):
    id: str
    direction: str  # in | out
    phone: str  # the customer's number (the sender of an inbound text, else the recipient)
    body: str  # an inbound text with its PIN masked; a one-time code once sent is blanked
    purpose: str  # sms.inbound, sms.reply, pay_link, eticket, otp, ticket.survey, ...
    status: str  # received, replied (left in the webhook's TwiML), queued, sent, delivered...
    segments: int
    created_at: datetime
    command: str | None = None  # as parsed: BOOK, PAY, STATUS, ... (inbound and replies)
    outcome: str | None = None  # held, payment_succeeded, pin_wrong, ignored_flood, ...
    order_id: str | None = None
    ticket_id: str | None = None
    provider_message_id: str | None = None


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None


async def conversation(
    session: AsyncSession, phone: str, *, limit: int, cursor: str | None
) -> MessagePage:
    stmt = select(SmsMessage).where(or_(SmsMessage.to == phone, SmsMessage.from_phone == phone))
    rows = (
        await session.scalars(
            keyset(stmt, SmsMessage.created_at, SmsMessage.id, cursor=cursor, limit=limit)
        )
    ).all()
    page = page_of(rows, limit, lambda m: (m.created_at, m.id))
    return MessagePage([_out(m) for m in page.items], page.next_cursor)


def _out(m: SmsMessage) -> MessageOut:
    return MessageOut(
        id=m.id,
        direction=m.direction,
        phone=(m.from_phone if m.direction == "in" else m.to) or "",
        body=m.body,
        purpose=m.purpose,
        status=m.status,
        segments=m.segments,
        created_at=m.created_at,
        command=m.command,
        outcome=m.outcome,
        order_id=m.order_id,
        ticket_id=m.ticket_id,
        provider_message_id=m.provider_message_id,
    )
