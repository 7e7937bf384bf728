"""Escalation beyond the first cycle: every next-response cycle escalates; one failing ticket
never stops a pass; the timeline survives the job writing without the ticket lock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

import ticketing
from core.runtime import Runtime
from tests.integration.ticketing.test_ticketing_service import (
    T0,
    agent,
    customer,
    make_queue,
    open_one,
)
from ticketing.models import Escalation, Ticket, TicketEvent
from ticketing.timeline import record


def levels(run: ticketing.EscalationRun, tid: str, clock: str) -> list[str]:
    return sorted(lv for t, c, lv in run.fired if t == tid and c == clock)


async def test_every_next_response_cycle_escalates(tk_runtime: Runtime) -> None:
    rt, me, staff, sup = tk_runtime, customer(), agent(), agent("supervisor")
    q = await make_queue(rt, supervisor=sup.id)
    tid = await open_one(rt, me, q)  # high: next response 2 h
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(s, tid, staff, body="Looking", public=True, now=T0)
        await ticketing.transition(s, tid, staff, to="open", now=T0)
        await ticketing.add_comment(
            s, tid, me, body="Any news?", public=True, now=T0 + timedelta(minutes=1)
        )
    first = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=2, minutes=2))
    assert levels(first, tid, "next_response") == ["breach", "warn75", "warn90"]
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(
            s, tid, staff, body="Refund is coming", public=True, now=T0 + timedelta(hours=3)
        )
        await ticketing.add_comment(
            s, tid, me, body="Still nothing", public=True, now=T0 + timedelta(hours=3, minutes=1)
        )
    # The second cycle's 75% (1.5 h after the reply) is found through check_at.
    warn = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=4, minutes=32))
    assert levels(warn, tid, "next_response") == ["warn75"]
    second = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=5, minutes=2))
    assert levels(second, tid, "next_response") == ["breach", "warn90"]
    again = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=5, minutes=3))
    assert levels(again, tid, "next_response") == []
    async with rt.sessions() as s:
        rows = (
            await s.execute(
                select(Escalation.cycle, Escalation.level).where(
                    Escalation.ticket_id == tid, Escalation.clock == "next_response"
                )
            )
        ).all()
    cycles = sorted({c for c, _ in rows})
    assert len(rows) == 6 and len(cycles) == 2


async def test_one_failing_ticket_does_not_stop_the_pass(tk_runtime: Runtime) -> None:
    rt, me = tk_runtime, customer()
    q = await make_queue(rt)
    bad = await open_one(rt, me, q)
    good = await open_one(rt, me, q)

    async def explode(ticket_id: str) -> None:
        if ticket_id == bad:
            raise RuntimeError("simulated trouble with one ticket")

    when = T0 + timedelta(minutes=31)
    run = await ticketing.escalate_due(rt.sessions, when, explode)
    assert levels(run, good, "first_response") == ["breach", "warn75", "warn90"]
    assert levels(run, bad, "first_response") == []
    assert bad in run.failed
    retry = await ticketing.escalate_due(rt.sessions, when + timedelta(seconds=2))
    assert levels(retry, bad, "first_response") == ["breach", "warn75", "warn90"]


async def test_timeline_survives_another_lockless_writer(tk_runtime: Runtime) -> None:
    """Escalation workers write timeline rows without the ticket lock (a lock would serialise
    them): while another writer has taken seq n+1 and not yet committed, the job's row must
    wait, collide on the unique (ticket_id, seq) and take the next number."""
    rt, me = tk_runtime, customer()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)
    when = T0 + timedelta(minutes=31)
    async with rt.sessions() as s:
        await s.begin()
        ticket = await s.get(Ticket, tid)
        assert ticket is not None
        await record(s, ticket, "note", actor="system:test", channel="system", now=when)
        await s.flush()  # seq 2 is written, the transaction still open
        job = asyncio.create_task(ticketing.escalate_due(rt.sessions, when))
        await asyncio.sleep(0.5)  # let the job reach the conflicting insert and wait on it
        await s.commit()
    run = await asyncio.wait_for(job, 20)
    assert levels(run, tid, "first_response") == ["breach", "warn75", "warn90"]
    async with rt.sessions() as s:
        seqs = list(
            (await s.execute(select(TicketEvent.seq).where(TicketEvent.ticket_id == tid))).scalars()
        )
    assert sorted(seqs) == list(range(1, 6))  # created, note, three escalations
