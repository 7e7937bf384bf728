"""Follow-up calls (回访) after resolution: attempts with outcomes, satisfaction on success."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, ValidationFailed
from core.principal import Principal
from core.text import check_plain_text

from .domain import check_choice, check_score
from .models import FollowUp, Ticket
from .timeline import lock_ticket, record

OUTCOMES = ("reached", "no_answer", "refused", "wrong_number")
MAX_ATTEMPTS = 3


async def followups_of(session: AsyncSession, ticket_id: str) -> list[FollowUp]:
    rows = await session.execute(
        select(FollowUp).where(FollowUp.ticket_id == ticket_id).order_by(FollowUp.created_at)
    )
    return list(rows.scalars())


async def record_attempt(
    session: AsyncSession,
    followup_id: str,
    principal: Principal,
    *,
    outcome: str,
    note: str | None,
    score: int | None,
    now: datetime,
) -> FollowUp:
    if not principal.is_agent:
        raise NotFound("no such follow-up")
    check_choice("outcome", outcome, OUTCOMES)
    check_plain_text("note", note, lines=True)
    if score is not None:
        check_score(score)
        if outcome != "reached":
            raise ValidationFailed.field("score", "only a reached customer gives a score")
    fu = await session.get(FollowUp, followup_id)
    if fu is None:
        raise NotFound("no such follow-up")
    ticket = await lock_ticket(session, fu.ticket_id)
    if fu.status != "pending":
        raise ValidationFailed.field("followup", f"follow-up is already {fu.status}")
    fu.attempts = [
        *fu.attempts,
        {"at": now.isoformat(), "agent": principal.id, "outcome": outcome, "note": note},
    ]
    if outcome == "reached":
        fu.status = "done"
    elif outcome in ("refused", "wrong_number") or len(fu.attempts) >= MAX_ATTEMPTS:
        fu.status = "failed"
    fu.updated_at = now
    await record(
        session,
        ticket,
        "followup",
        actor=principal.actor,
        channel="phone",
        now=now,
        after={"outcome": outcome, "status": fu.status, "attempt": len(fu.attempts)},
        public=False,
    )
    if score is not None:
        await record_satisfaction(
            session, ticket.id, score=score, source="followup", actor=principal.actor, now=now
        )
    await session.flush()
    return fu


async def record_satisfaction(
    session: AsyncSession, ticket_id: str, *, score: int, source: str, actor: str, now: datetime
) -> Ticket:
    """Score 1-5 (SMS reply or the follow-up agent), credited to the resolving agent."""
    check_score(score)
    ticket = await lock_ticket(session, ticket_id)
    if ticket.resolved_by is None and ticket.status not in ("resolved", "closed"):
        raise ValidationFailed.field("score", "only resolved tickets are scored")
    before = {"satisfaction": ticket.satisfaction}
    ticket.satisfaction, ticket.satisfaction_source = score, source
    ticket.updated_at = now
    await record(
        session,
        ticket,
        "satisfaction",
        actor=actor,
        channel=source,
        now=now,
        before=before,
        after={"satisfaction": score, "agent": ticket.resolved_by},
    )
    return ticket
