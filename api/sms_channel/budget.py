"""SMS pumping: fraudsters make a service text premium or far-away numbers and share the
fees. Every reply is budgeted, counted from the stored replies (so the count is the same in
every process and survives a restart), while the sender's lock is held (api.sms_channel.
ordering), so two texts from one number cannot both take the last reply:

- a known number gets `HOTLINE_SMS_REPLIES_PER_HOUR` replies an hour; the next text gets one
  notice, and after that nothing until the hour's count falls under the budget again;
- an unknown number gets one enrollment hint (`HOTLINE_SMS_HINT_DAYS`), and all unknown
  numbers together `HOTLINE_SMS_UNKNOWN_REPLIES_PER_HOUR` hints an hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from core.sms import OUT, SmsMessage

REPLY, HINT, FLOOD = "sms.reply", "sms.enroll_hint", "sms.flood"
REPLY_PURPOSES = (REPLY, HINT, FLOOD)
HOUR = timedelta(hours=1)


async def _count(session: AsyncSession, *where: ColumnElement[bool]) -> int:
    found = await session.scalar(select(func.count()).select_from(SmsMessage).where(*where))
    return int(found or 0)


def replies_to(phone: ColumnElement[str], since: ColumnElement[datetime]) -> ScalarSelect[int]:
    """Replies sent to `phone` since then (an hour ago; read with the sender, in one
    statement: api.sms_channel.ordering)."""
    return (
        select(func.count())
        .select_from(SmsMessage)
        .where(
            SmsMessage.to == phone,
            SmsMessage.created_at > since,
            SmsMessage.direction == OUT,
            SmsMessage.purpose.in_(REPLY_PURPOSES),
        )
        .scalar_subquery()
    )


async def known_number(
    session: AsyncSession, settings: Settings, phone: str, now: datetime, replies: int
) -> str:
    """`reply`, `notice` (the one flood notice) or `ignore`, given `replies_to`'s count."""
    if replies < settings.sms_replies_per_hour:
        return "reply"
    flood = await _count(
        session,
        SmsMessage.to == phone,
        SmsMessage.created_at > now - HOUR,
        SmsMessage.purpose == FLOOD,
    )
    return "ignore" if flood else "notice"


async def unknown_number(
    session: AsyncSession, settings: Settings, phone: str, now: datetime
) -> str:
    """`hint` (its one enrollment hint) or `ignore`."""
    hinted = await _count(
        session,
        SmsMessage.to == phone,
        SmsMessage.purpose == HINT,
        SmsMessage.created_at > now - timedelta(days=settings.sms_hint_days),
    )
    if hinted:
        return "ignore"
    hints = await _count(session, SmsMessage.purpose == HINT, SmsMessage.created_at > now - HOUR)
    return "hint" if hints < settings.sms_unknown_replies_per_hour else "ignore"
