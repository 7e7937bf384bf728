"""Wrap-up notes: what an agent writes at the end of a call, on the caller's record, so the
next agent who takes that caller's call reads how the last one ended (with or without a
ticket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column
from core.drivers import as_rows
from core.errors import NotFound, ValidationFailed
from core.principal import Principal
from core.text import check_plain_text

MAX_NOTE = 2000


class CallNote(Base):
    __tablename__ = "call_notes"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    agent_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


async def add_call_note(
    session: AsyncSession, principal: Principal, *, customer_id: str, body: str, now: datetime
) -> CallNote:
    """An agent's wrap-up note on the caller's record (1 to 2000 characters)."""
    if not principal.is_agent:
        raise NotFound("no such customer")
    body = (body or "").strip()
    if not 1 <= len(body) <= MAX_NOTE:
        raise ValidationFailed.field("note", f"1 to {MAX_NOTE} characters")
    check_plain_text("note", body, lines=True)  # a textarea: line breaks and tabs are text
    note = CallNote(customer_id=customer_id, agent_id=principal.id, body=body, created_at=now)
    session.add(note)
    await session.flush()
    return note


async def call_notes_for(
    session: AsyncSession, customer_id: str, *, limit: int = 5
) -> list[CallNote]:
    """The caller's latest wrap-up notes, newest first."""
    rows = await session.scalars(
        select(CallNote)
        .where(CallNote.customer_id == customer_id)
        .order_by(CallNote.created_at.desc(), CallNote.id.desc())
        .limit(limit)
    )
    return list(rows)


async def call_notes_on(driver: Any, customer_id: str, *, limit: int = 5) -> list[Any]:
    """`call_notes_for` on an asyncpg connection (core.drivers), each note with its agent's
    display name (`agent_name`), as rows read by attribute: one statement for the record."""
    return as_rows(
        await driver.fetch(
            "SELECT n.id, n.customer_id, n.agent_id, n.body, n.created_at,"
            " a.display_name AS agent_name FROM call_notes n"
            " LEFT JOIN agents a ON a.id = n.agent_id WHERE n.customer_id = $1"
            " ORDER BY n.created_at DESC, n.id DESC LIMIT $2",
            customer_id,
            limit,
        )
    )
