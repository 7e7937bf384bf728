"""Agents' notification inbox: escalations land here for each agent up the chain (assignee at
75%/90%, queue supervisor at 90%/breach), newest first, marked read one by one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.paging import keyset, page_of
from core.principal import Principal

from .models import AgentNotification, Ticket

log = structlog.get_logger("hotline.ticketing.escalations")


@dataclass(frozen=True)
class NotificationPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def notify(
    session: AsyncSession,
    *,
    agents: list[str],
    ticket_id: str,
    escalation_id: str,
    clock: str,
    level: str,
    now: datetime,
) -> None:
    """One inbox row per notified agent, in the caller's (the fire's) transaction."""
    for agent_id in agents:
        session.add(
            AgentNotification(
                agent_id=agent_id,
                ticket_id=ticket_id,
                escalation_id=escalation_id,
                kind="escalation",
                clock=clock,
                level=level,
                created_at=now,
            )
        )


def notification_json(n: AgentNotification, number: str) -> dict[str, Any]:
    return {
        "id": n.id,
        "kind": n.kind,
        "ticket_id": n.ticket_id,
        "ticket_number": number,
        "clock": n.clock,
        "level": n.level,
        "created_at": n.created_at.isoformat(),
        "read": n.read_at is not None,
        "read_at": n.read_at.isoformat() if n.read_at else None,
    }


async def list_notifications(
    session: AsyncSession,
    principal: Principal,
    *,
    unread: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> NotificationPage:
    if not principal.is_agent:
        raise NotFound("agents only")
    if not 1 <= limit <= 200:
        raise ValidationFailed.field("limit", "1 to 200")
    q = (
        select(AgentNotification, Ticket.number)
        .join(Ticket, Ticket.id == AgentNotification.ticket_id)
        .where(AgentNotification.agent_id == principal.id)
    )
    if unread is not None:
        read_at = AgentNotification.read_at
        q = q.where(read_at.is_(None) if unread else read_at.is_not(None))
    q = keyset(q, AgentNotification.created_at, AgentNotification.id, cursor=cursor, limit=limit)
    page = page_of(
        [(n, num) for n, num in await session.execute(q)],
        limit,
        lambda r: (r[0].created_at, r[0].id),
    )
    return NotificationPage([notification_json(n, num) for n, num in page.items], page.next_cursor)


async def mark_read(
    session: AsyncSession, principal: Principal, notification_id: str, *, now: datetime
) -> dict[str, Any]:
    """Marks one of this agent's notifications read (again is a no-op); others' are 404."""
    n = await session.get(AgentNotification, notification_id)
    if n is None or not principal.is_agent or n.agent_id != principal.id:
        raise NotFound("no such notification")
    if n.read_at is None:
        n.read_at = now
    number = await session.scalar(select(Ticket.number).where(Ticket.id == n.ticket_id))
    return notification_json(n, str(number))


ESCALATIONS = Counter(
    "hotline_ticket_escalations_total", "SLA escalations announced", ["clock", "level"]
)


def announce_escalation(payload: dict[str, Any]) -> str:
    """The live side of an escalation (outbox `ticket.escalated`): the inbox rows were written
    with the fire, exactly once; this puts it where on-call people look right away, a
    structured warning per notified agent (the log pipeline pages on `level=breach`) and a
    counter a dashboard can alert on. It touches no database row, so a redelivered message
    can only repeat a log line and count once more, never notify anyone twice in the inbox."""
    clock, level = str(payload.get("clock")), str(payload.get("level"))
    agents: list[str | None] = [str(a) for a in payload.get("notify") or []]
    ESCALATIONS.labels(clock, level).inc()
    for agent_id in agents or [None]:
        log.warning(
            "ticket escalated",
            ticket_id=payload.get("ticket_id"),
            clock=clock,
            cycle=payload.get("cycle"),
            level=level,
            agent_id=agent_id,
        )
    return "announced" if any(agents) else "nobody_to_notify"
