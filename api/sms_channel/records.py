"""The record of one inbound text: the text as received (PIN masked), the reply that leaves
in the TwiML, and the MessageSid's row that answers a gateway retry with that reply
(core.sms_delivery.answer_once), in one statement on PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres, new_id
from core.sms import IN, OUT, RECEIVED, REPLIED, SmsInbound, SmsMessage
from core.sms_text import segments

from .context import Answer, InboundSms
from .ordering import driver
from .parser import Command

# Core's insert of the messages table, built once: one statement for both rows (the ORM's
# would group rows by the keys they set, and building a statement costs more than running it).
_INSERT = insert(cast(Table, SmsMessage.__table__))
COLUMNS = (
    "id", "direction", "to", "from_phone", "body", "purpose", "created_at", "status",
    "provider_message_id", "segments", "command", "outcome", "order_id", "ticket_id",
    "attempts", "status_at", "error", "lease_until", "sent_at",
)  # fmt: skip
_INBOUND = insert(SmsInbound)


_INSERT_PG_HEAD = (  # the MessageSid's row, then the messages (COLUMNS, in order)
    "WITH sid AS (INSERT INTO sms_inbound (message_sid, from_phone, reply, received_at)"
    " VALUES ($1, $2, $3, $4))"
    ' INSERT INTO sms_messages (id, direction, "to", from_phone, body, purpose, created_at,'
    " status, provider_message_id, segments, command, outcome, order_id, ticket_id, attempts,"
    " status_at, error, lease_until, sent_at) VALUES "
)


def _insert_pg(rows: int) -> str:
    """The MessageSid's row (answer_once's retry record) and `rows` messages in one
    statement: a text's writes are one round trip on PostgreSQL."""
    width = len(COLUMNS)
    return _INSERT_PG_HEAD + ", ".join(
        "(" + ", ".join(f"${5 + r * width + c}" for c in range(width)) + ")" for r in range(rows)
    )


_INSERT_PG = {1: _insert_pg(1), 2: _insert_pg(2)}  # the text alone; the text and its reply


def _rows(
    sms: InboundSms,
    phone: str | None,
    command: Command,
    result: Answer,
    purpose: str,
    now: datetime,
) -> list[dict[str, Any]]:
    common = {
        "command": command.verb,
        "outcome": result.outcome,
        "order_id": result.order_id,
        "ticket_id": result.ticket_id,
        "attempts": 0,
        "status_at": now,
        "error": None,
        "lease_until": None,
        "sent_at": None,
    }
    sent = sms.num_segments if sms.num_segments and sms.num_segments > 0 else None
    rows = [
        {
            "id": new_id(),
            "direction": IN,
            "to": sms.to[:20],
            "from_phone": (phone or sms.sender)[:20],
            "body": command.masked,
            "purpose": "sms.inbound",
            "created_at": now,
            "status": RECEIVED,
            "provider_message_id": sms.message_sid,
            "segments": sent or segments(command.masked),
            **common,
        }
    ]
    if result.reply and phone:
        rows.append(
            {
                "id": new_id(),
                "direction": OUT,
                "to": phone,
                "from_phone": None,
                "body": result.reply,
                "purpose": purpose,
                "created_at": now + timedelta(microseconds=1),  # after the text it answers
                "status": REPLIED,
                "provider_message_id": None,
                "segments": segments(result.reply),
                **common,
            }
        )
    return rows


async def store_on(
    pg: Any,
    sms: InboundSms,
    phone: str | None,
    command: Command,
    result: Answer,
    purpose: str,
    now: datetime,
) -> None:
    """The record, on an asyncpg connection inside the handling transaction."""
    rows = _rows(sms, phone, command, result, purpose, now)
    sid = (sms.message_sid, phone, result.reply, now)
    await pg.execute(_INSERT_PG[len(rows)], *sid, *(row[c] for row in rows for c in COLUMNS))


async def store(
    session: AsyncSession,
    sms: InboundSms,
    phone: str | None,
    command: Command,
    result: Answer,
    purpose: str,
    now: datetime,
) -> None:
    """The record, in the session's handling transaction."""
    if is_postgres(session):  # on the transaction's asyncpg connection (ordering.driver)
        await store_on(await driver(session), sms, phone, command, result, purpose, now)
        return
    await session.execute(_INSERT, _rows(sms, phone, command, result, purpose, now))
    values = (sms.message_sid, phone, result.reply, now)
    keys = ("message_sid", "from_phone", "reply", "received_at")
    await session.execute(_INBOUND, dict(zip(keys, values, strict=True)))
