"""Per-queue figures of the voice channel for the supervisor's wallboard.

Service level = calls answered within the threshold (HOTLINE_VOICE_SERVICE_LEVEL_SECONDS,
20 s by default) / calls that left the queue since `since` (answered + abandoned): a caller
who gave up waiting counts against it, whatever the wait. None while no call has left.
Rows are read once and counted here rather than in SQL: interval arithmetic differs between
PostgreSQL and SQLite, and a day of one call center's queue is a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from .calls import QUEUES
from .models import Call


@dataclass(frozen=True)
class QueueStats:
    queue: str
    waiting: int  # callers in the queue now
    longest_wait_seconds: int  # the longest current wait (0 when nobody waits)
    answered: int  # since `since`
    answered_within: int  # of those, within the threshold
    abandoned: int  # hung up while waiting, since `since`
    service_level: float | None  # answered_within / (answered + abandoned)
    threshold_seconds: int


async def queue_stats(
    session: AsyncSession, *, now: datetime, since: datetime, threshold_seconds: int
) -> list[QueueStats]:
    rows = (
        await session.execute(
            select(Call.queue, Call.status, Call.enqueued_at, Call.answered_at, Call.outcome).where(
                Call.queue.is_not(None),
                or_(Call.status == "waiting", Call.enqueued_at >= since),
            )
        )
    ).all()
    stats = []
    for code in QUEUES:
        waiting = answered = within = abandoned = 0
        longest = 0
        for queue, status, enqueued, answered_at, outcome in rows:
            if queue != code or enqueued is None:
                continue
            if status == "waiting":
                waiting += 1
                longest = max(longest, int((now - enqueued).total_seconds()))
            if enqueued < since:
                continue
            if answered_at is not None:
                answered += 1
                within += (answered_at - enqueued).total_seconds() <= threshold_seconds
            elif outcome == "abandoned":
                abandoned += 1
        left = answered + abandoned
        stats.append(
            QueueStats(
                queue=code,
                waiting=waiting,
                longest_wait_seconds=max(0, longest),
                answered=answered,
                answered_within=within,
                abandoned=abandoned,
                service_level=round(within / left, 4) if left else None,
                threshold_seconds=threshold_seconds,
            )
        )
    return stats
