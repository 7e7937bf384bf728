"""Tickets the system opens for facts other rooms report (a shipment that failed for good),
exactly one per fact: the unique `source_key` decides between duplicates and racers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.principal import Principal

from .models import Ticket
from .service import SYSTEM_CHANNEL, open_ticket

SYSTEM = Principal("agent", "system")


async def by_source(session: AsyncSession, source_key: str) -> Ticket | None:
    found: Ticket | None = await session.scalar(
        select(Ticket).where(Ticket.source_key == source_key)
    )
    return found


async def open_system_ticket(
    session: AsyncSession,
    *,
    source_key: str,
    actor: str,
    category: str,
    priority: str,
    customer_id: str,
    order_ids: list[str],
    subject: str,
    description: str,
    now: datetime,
) -> tuple[Ticket, bool]:
    """(ticket, opened now?). The same fact again, or a concurrent duplicate (whose insert
    waits for ours and then collides on the unique key), gets the ticket already opened."""
    existing = await by_source(session, source_key)
    if existing is not None:
        return existing, False
    try:
        async with session.begin_nested():
            ticket = await open_ticket(
                session,
                SYSTEM,
                now=now,
                category=category,
                subject=subject[:200],
                description=description[:10_000],
                priority=priority,
                channel=SYSTEM_CHANNEL,
                customer_id=customer_id,
                order_ids=order_ids,
                source_key=source_key,
                created_by=actor,
            )
    except IntegrityError:
        existing = await by_source(session, source_key)
        if existing is None:
            raise
        return existing, False
    return ticket, True
