"""The wallboard's figures per skill queue: waiting, longest wait, and the service level
(answered within the threshold / answered + abandoned) over a window of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ticketing
from api.voice_demo import new_call_sid
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent

T0 = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)  # a window no other test's calls reach


async def queued(runtime: Runtime, queue: str, at: datetime) -> str:
    sid = new_call_sid()
    async with runtime.sessions() as s, s.begin():
        await ticketing.open_call(
            s, call_sid=sid, from_phone="+8613800000000", to_phone="+864008001000",
            customer_id=None, language="zh", now=at,
        )  # fmt: skip
        assert await ticketing.enqueue_call(s, sid, queue, at, path=["0"], language="zh")
    return sid


async def test_service_level_counts_answers_within_the_threshold(
    runtime: Runtime, agent: TestAgent
) -> None:
    fast = await queued(runtime, "billing", T0)
    slow = await queued(runtime, "billing", T0 + timedelta(seconds=5))
    gave_up = await queued(runtime, "billing", T0 + timedelta(seconds=10))
    waiting = await queued(runtime, "billing", T0 + timedelta(seconds=20))
    async with runtime.sessions() as s, s.begin():
        await ticketing.answer_call(s, fast, agent.id, T0 + timedelta(seconds=12))
        await ticketing.answer_call(s, slow, agent.id, T0 + timedelta(seconds=40))
        outcome = await ticketing.end_call(
            s, gave_up, provider_status="completed", duration_seconds=None,
            now=T0 + timedelta(seconds=50),
        )  # fmt: skip
    assert outcome == "abandoned"
    now = T0 + timedelta(seconds=60)
    async with runtime.sessions() as s:
        stats = await ticketing.queue_stats(s, now=now, since=T0, threshold_seconds=20)
        view = await ticketing.call_view(s, await ticketing.get_call(s, slow))
        ended = await ticketing.get_call(s, gave_up)
    billing = next(q for q in stats if q.queue == "billing")
    assert (billing.answered, billing.answered_within, billing.abandoned) == (2, 1, 1)
    assert billing.service_level == round(1 / 3, 4)
    assert billing.waiting >= 1 and billing.longest_wait_seconds >= 40  # `waiting` since T0+20
    assert view.wait_seconds(now) == 35
    assert ended.duration_seconds == 40  # the provider said nothing: from our own record
    async with runtime.sessions() as s:
        later = await ticketing.queue_stats(
            s, now=now, since=T0 + timedelta(hours=1), threshold_seconds=20
        )
    assert next(q for q in later if q.queue == "billing").service_level is None
    assert waiting
