"""Configuration use cases: business calendars, queues, SLA policies, agents' availability."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.text import SLUG, SLUG_RULE, check_plain_text

from .calendar import DEFAULT_HOURS, Calendar, make_calendar
from .domain import CATEGORIES, DEFAULT_FOLLOWUP_SECONDS, DEFAULT_TARGETS, PRIORITIES, check_choice
from .models import AgentCapacity, BusinessCalendar, QueueMember, SlaPolicy, TicketQueue

DEFAULT_QUEUE = "general"
DEFAULT_CALENDAR = "china-office"


def calendar_of(row: BusinessCalendar) -> Calendar:
    return Calendar.from_snapshot({"zone": row.zone, "hours": row.hours, "holidays": row.holidays})


async def upsert_calendar(
    session: AsyncSession,
    *,
    name: str,
    zone: str,
    hours: dict[int, list[Any]],
    holidays: list[date],
    now: datetime,
) -> BusinessCalendar:
    """Create or edit a calendar; tickets keep the snapshot taken when they were opened."""
    snap = make_calendar(zone, hours, holidays).snapshot()
    row = (
        await session.execute(select(BusinessCalendar).where(BusinessCalendar.name == name))
    ).scalar_one_or_none()
    if row is None:
        row = BusinessCalendar(name=name, created_at=now)
        session.add(row)
    row.zone, row.hours, row.holidays = snap["zone"], snap["hours"], snap["holidays"]
    await session.flush()
    return row


async def upsert_queue(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    calendar_name: str,
    categories: list[str],
    supervisor_id: str | None,
    now: datetime,
) -> TicketQueue:
    if not SLUG.match(code):  # a code ends up in reports and CSV cells: nothing exotic
        raise ValidationFailed.field("code", SLUG_RULE)
    check_plain_text("name", name)
    for c in categories:
        check_choice("categories", c, CATEGORIES)
    cal = (
        await session.execute(
            select(BusinessCalendar).where(BusinessCalendar.name == calendar_name)
        )
    ).scalar_one_or_none()
    if cal is None:
        raise ValidationFailed.field("calendar", f"no calendar {calendar_name!r}")
    row = (
        await session.execute(select(TicketQueue).where(TicketQueue.code == code))
    ).scalar_one_or_none()
    if row is None:
        row = TicketQueue(code=code, created_at=now)
        session.add(row)
    row.name, row.calendar_id, row.categories = name, cal.id, list(categories)
    row.supervisor_id = supervisor_id
    await session.flush()
    return row


async def set_policy(
    session: AsyncSession,
    *,
    category: str,
    priority: str,
    first_response_s: int,
    next_response_s: int,
    resolution_s: int,
    followup_s: int = DEFAULT_FOLLOWUP_SECONDS,
    now: datetime,
) -> SlaPolicy:
    check_choice("category", category, CATEGORIES)
    check_choice("priority", priority, PRIORITIES)
    for field, v in (
        ("first_response_s", first_response_s),
        ("next_response_s", next_response_s),
        ("resolution_s", resolution_s),
        ("followup_s", followup_s),
    ):
        if not 60 <= v <= 365 * 86400:
            raise ValidationFailed.field(field, "must be 60 seconds to a year")
    row = (
        await session.execute(
            select(SlaPolicy).where(SlaPolicy.category == category, SlaPolicy.priority == priority)
        )
    ).scalar_one_or_none()
    if row is None:
        row = SlaPolicy(category=category, priority=priority)
        session.add(row)
    row.first_response_s, row.next_response_s = first_response_s, next_response_s
    row.resolution_s, row.followup_s, row.updated_at = resolution_s, followup_s, now
    await session.flush()
    return row


async def policy_snapshot(session: AsyncSession, category: str, priority: str) -> dict[str, Any]:
    row = (
        await session.execute(
            select(SlaPolicy).where(SlaPolicy.category == category, SlaPolicy.priority == priority)
        )
    ).scalar_one_or_none()
    if row is None:
        return policy_of(None, priority)
    targets = (row.first_response_s, row.next_response_s, row.resolution_s, row.followup_s)
    return policy_of((row.id, *targets), priority)


def policy_of(row: tuple[str, int, int, int, int] | None, priority: str) -> dict[str, Any]:
    """The snapshot a ticket keeps: its SLA policy row (id, first response, next response,
    resolution, follow-up seconds), or the priority's defaults when there is none."""
    if row is not None:
        pid, fr, nr, res, fu = row
        return {"id": pid, "first_response": fr, "next_response": nr, "resolution": res,
                "followup": fu}  # fmt: skip
    fr, nr, res = DEFAULT_TARGETS[priority]
    return {
        "id": None,
        "first_response": fr,
        "next_response": nr,
        "resolution": res,
        "followup": DEFAULT_FOLLOWUP_SECONDS,
    }


async def ensure_default_queue(session: AsyncSession, now: datetime) -> TicketQueue:
    """The catch-all queue (and its Shanghai calendar), created once even under races."""
    found = (
        await session.execute(select(TicketQueue).where(TicketQueue.code == DEFAULT_QUEUE))
    ).scalar_one_or_none()
    if found is not None:
        return found
    try:
        async with session.begin_nested():
            cal = (
                await session.execute(
                    select(BusinessCalendar).where(BusinessCalendar.name == DEFAULT_CALENDAR)
                )
            ).scalar_one_or_none()
            if cal is None:
                await upsert_calendar(
                    session,
                    name=DEFAULT_CALENDAR,
                    zone="Asia/Shanghai",
                    hours=DEFAULT_HOURS,
                    holidays=[],
                    now=now,
                )
            await upsert_queue(
                session,
                code=DEFAULT_QUEUE,
                name="General complaints",
                calendar_name=DEFAULT_CALENDAR,
                categories=list(CATEGORIES),
                supervisor_id=None,
                now=now,
            )
    except IntegrityError:
        pass  # another request created it first
    return (
        await session.execute(select(TicketQueue).where(TicketQueue.code == DEFAULT_QUEUE))
    ).scalar_one()


async def queue_by_code(session: AsyncSession, code: str) -> TicketQueue:
    row = (
        await session.execute(select(TicketQueue).where(TicketQueue.code == code))
    ).scalar_one_or_none()
    if row is None:
        raise ValidationFailed.field("queue", f"no queue {code!r}")
    return row


async def queue_for_category(session: AsyncSession, category: str, now: datetime) -> TicketQueue:
    rows = (await session.execute(select(TicketQueue).order_by(TicketQueue.created_at))).scalars()
    for q in rows:
        if q.code != DEFAULT_QUEUE and category in (q.categories or []):
            return q
    return await ensure_default_queue(session, now)


async def set_agent(
    session: AsyncSession,
    agent_id: str,
    *,
    available: bool,
    cap: int,
    queues: list[str] | None = None,
) -> AgentCapacity:
    """Availability, cap and queue membership of an auth agent (ticketing's own rows)."""
    if not 0 <= cap <= 500:
        raise ValidationFailed.field("cap", "must be 0 to 500")
    row = await session.get(AgentCapacity, agent_id)
    if row is None:
        row = AgentCapacity(agent_id=agent_id, available=available, cap=cap)
        session.add(row)
    row.available, row.cap = available, cap
    await session.flush()
    for code in queues or []:
        q = await queue_by_code(session, code)
        exists = (
            await session.execute(
                select(QueueMember).where(
                    QueueMember.queue_id == q.id, QueueMember.agent_id == agent_id
                )
            )
        ).scalar_one_or_none()
        if exists is None:
            session.add(QueueMember(queue_id=q.id, agent_id=agent_id))
    await session.flush()
    return row


async def get_queue(session: AsyncSession, queue_id: str) -> TicketQueue:
    q = await session.get(TicketQueue, queue_id)
    if q is None:
        raise NotFound("no such queue")
    return q
