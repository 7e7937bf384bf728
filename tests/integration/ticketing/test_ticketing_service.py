"""Ticketing use cases on PostgreSQL: visibility, lifecycle with paused clocks, snapshots,
escalation exactly once with two racing workers, least-loaded assignment and backlog drain,
follow-up, satisfaction and reports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import ticketing
from core.errors import InvalidTransition, NotFound, ValidationFailed
from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from ticketing.models import Escalation
from ticketing.timeline import clock_events

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
ALL_DAY = {d: [(0, 1440)] for d in range(7)}


def uid() -> str:
    return uuid.uuid4().hex[:10]


def customer() -> Principal:
    return Principal("customer", uuid.uuid4().hex)


def agent(*roles: str) -> Principal:
    return Principal("agent", uuid.uuid4().hex, frozenset(roles or ("agent",)))


async def make_queue(
    rt: Runtime,
    *,
    agents: list[tuple[str, int]] = (),
    supervisor: str | None = None,
    hours: dict[int, list[tuple[int, int]]] | None = None,
    zone: str = "UTC",
) -> str:
    code, cal = f"q{uid()}", f"c{uid()}"
    async with rt.sessions() as s, s.begin():
        await ticketing.upsert_calendar(
            s, name=cal, zone=zone, hours=hours or ALL_DAY, holidays=[], now=T0
        )
        await ticketing.upsert_queue(
            s,
            code=code,
            name=code,
            calendar_name=cal,
            categories=[],
            supervisor_id=supervisor,
            now=T0,
        )
        for agent_id, cap in agents:
            await ticketing.set_agent(s, agent_id, available=True, cap=cap, queues=[code])
    return code


async def open_one(
    rt: Runtime, who: Principal, queue: str, now: datetime = T0, **kw: object
) -> str:
    async with rt.sessions() as s, s.begin():
        t = await ticketing.open_ticket(
            s,
            who,
            now=now,
            category="billing",
            subject="Charged twice",
            description="My bill shows two charges",
            queue=queue,
            priority="high",
            customer_id=None if who.is_customer else uuid.uuid4().hex,
            **kw,  # type: ignore[arg-type]
        )
        return t.id


async def view(rt: Runtime, ticket_id: str, who: Principal, now: datetime) -> dict:
    async with rt.sessions() as s:
        t = await ticketing.get_for(s, ticket_id, who)
        return await ticketing.ticket_view(s, t, who, now)


async def test_customer_sees_only_own_ticket_and_public_comments(tk_runtime: Runtime) -> None:
    rt, me, other, staff = tk_runtime, customer(), customer(), agent()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(s, tid, staff, body="Refund under review", public=False, now=T0)
        await ticketing.add_comment(
            s, tid, staff, body="We are on it", public=True, now=T0 + timedelta(minutes=5)
        )
    mine = await view(rt, tid, me, T0 + timedelta(minutes=6))
    assert [c["body"] for c in mine["comments"]] == ["We are on it"]
    assert all(e["kind"] != "comment" or e["after"]["public"] for e in mine["timeline"])
    assert "policy" not in mine
    assert (
        mine["sla"]["first_response"]["stopped"]
        and mine["sla"]["first_response"]["breached_at"] is None
    )
    staff_view = await view(rt, tid, staff, T0 + timedelta(minutes=6))
    assert len(staff_view["comments"]) == 2
    with pytest.raises(NotFound):
        await view(rt, tid, other, T0)
    async with rt.sessions() as s:
        assert tid not in [t.id for t in (await ticketing.list_tickets(s, other, now=T0)).items]
        assert tid in [t.id for t in (await ticketing.list_tickets(s, me, now=T0)).items]


async def test_lifecycle_pauses_resolution_and_counts_reopens(tk_runtime: Runtime) -> None:
    rt, me, staff = tk_runtime, customer(), agent()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)
    async with rt.sessions() as s, s.begin():
        with pytest.raises(InvalidTransition):
            await ticketing.transition(s, tid, staff, to="closed", now=T0)
    steps = [("open", 0), ("pending_customer", 60), ("open", 600), ("resolved", 660)]
    for to, minute in steps:
        async with rt.sessions() as s, s.begin():
            await ticketing.transition(s, tid, staff, to=to, now=T0 + timedelta(minutes=minute))
    v = await view(rt, tid, staff, T0 + timedelta(minutes=700))
    res = v["sla"]["resolution"]
    # 60 running minutes, 540 paused, 60 running: pauses never count.
    assert res["elapsed_business_seconds"] == 120 * 60 and res["stopped"]
    assert res["remaining_business_seconds"] == 8 * 3600 - 120 * 60
    for to in ("reopened", "open", "resolved", "reopened"):
        async with rt.sessions() as s, s.begin():
            await ticketing.transition(s, tid, staff, to=to, now=T0 + timedelta(minutes=800))
    v = await view(rt, tid, staff, T0 + timedelta(minutes=801))
    assert v["reopen_count"] == 2 and v["status"] == "reopened"
    assert [e["after"]["status"] for e in v["timeline"] if e["kind"] == "status"][:2] == [
        "open",
        "pending_customer",
    ]
    async with rt.sessions() as s, s.begin():
        with pytest.raises(ValidationFailed):
            await ticketing.transition(s, tid, staff, to="flying", now=T0)


async def test_customer_reply_restarts_next_response_and_leaves_pending(
    tk_runtime: Runtime,
) -> None:
    rt, me, staff = tk_runtime, customer(), agent()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)
    async with rt.sessions() as s, s.begin():
        await ticketing.transition(s, tid, staff, to="open", now=T0)
        await ticketing.add_comment(
            s, tid, staff, body="Which number?", public=True, now=T0 + timedelta(minutes=1)
        )
        await ticketing.transition(
            s, tid, staff, to="pending_customer", now=T0 + timedelta(minutes=2)
        )
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(
            s, tid, me, body="138...", public=False, now=T0 + timedelta(hours=3)
        )
    v = await view(rt, tid, staff, T0 + timedelta(hours=3, minutes=30))
    assert v["status"] == "open"
    assert v["comments"][-1]["public"] is True  # customers cannot write internal notes
    nr = v["sla"]["next_response"]
    assert nr["running"] and nr["elapsed_business_seconds"] == 30 * 60
    assert nr["due_at"] == (T0 + timedelta(hours=5)).isoformat()


async def test_policy_and_calendar_are_snapshotted(tk_runtime: Runtime) -> None:
    rt, me = tk_runtime, customer()
    code, cal = f"q{uid()}", f"c{uid()}"
    async with rt.sessions() as s, s.begin():
        await ticketing.upsert_calendar(
            s, name=cal, zone="Asia/Shanghai", hours=ALL_DAY, holidays=[], now=T0
        )
        await ticketing.upsert_queue(
            s, code=code, name=code, calendar_name=cal, categories=[], supervisor_id=None, now=T0
        )
        await ticketing.set_policy(
            s,
            category="delivery",
            priority="low",
            first_response_s=3600,
            next_response_s=3600,
            resolution_s=7200,
            now=T0,
        )
        t = await ticketing.open_ticket(
            s,
            me,
            now=T0,
            category="delivery",
            subject="Late",
            description="Parcel late",
            priority="low",
            queue=code,
        )
    async with rt.sessions() as s, s.begin():
        await ticketing.set_policy(
            s,
            category="delivery",
            priority="low",
            first_response_s=60,
            next_response_s=60,
            resolution_s=60,
            now=T0,
        )
        await ticketing.upsert_calendar(
            s, name=cal, zone="Asia/Shanghai", hours={0: [(0, 60)]}, holidays=[], now=T0
        )
    v = await view(rt, t.id, me, T0 + timedelta(minutes=30))
    assert v["sla"]["resolution"]["remaining_business_seconds"] == 7200 - 1800


async def test_escalation_fires_once_with_two_racing_workers(tk_runtime: Runtime) -> None:
    rt, me, sup = tk_runtime, customer(), agent("supervisor")
    q = await make_queue(rt, supervisor=sup.id)
    tid = await open_one(rt, me, q)  # high: first response 30 min, resolution 8 h
    barrier = asyncio.Barrier(2)

    async def both_decided(ticket_id: str) -> None:
        if ticket_id == tid:  # hold both workers until each has decided to fire
            await asyncio.wait_for(barrier.wait(), 10)

    when = T0 + timedelta(minutes=31)
    runs = await asyncio.gather(
        *(ticketing.escalate_due(rt.sessions, when, both_decided) for _ in range(2))
    )
    fired = [f for r in runs for f in r.fired if f[0] == tid]
    # Canary: both workers saw the same three levels due and tried to fire them...
    assert sum(r.attempted for r in runs) >= 6
    # ...and the unique row let exactly one fire each.
    assert sorted(f[2] for f in fired) == ["breach", "warn75", "warn90"]
    again = await ticketing.escalate_due(rt.sessions, when + timedelta(seconds=5))
    assert not [f for f in again.fired if f[0] == tid]
    async with rt.sessions() as s:
        n = (
            await s.execute(
                select(func.count()).select_from(Escalation).where(Escalation.ticket_id == tid)
            )
        ).scalar_one()
        msgs = (
            await s.execute(select(OutboxMessage).where(OutboxMessage.topic == "ticket.escalated"))
        ).scalars()
        mine = [m for m in msgs if m.payload["ticket_id"] == tid]
    assert n == 3 and len(mine) == 3
    assert next(m for m in mine if m.payload["level"] == "breach").payload["notify"] == [sup.id]
    # Resolution reaches 75% of 8 h at 6 h: found through check_at, fired once.
    later = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=6, minutes=1))
    assert ("resolution", "warn75") in [(f[1], f[2]) for f in later.fired if f[0] == tid]


async def test_assignment_least_loaded_within_cap_and_backlog_drains(tk_runtime: Runtime) -> None:
    rt, me = tk_runtime, customer()
    a1, a2 = agent(), agent()
    q = await make_queue(rt, agents=[(a1.id, 2), (a2.id, 3)])
    ids = [await open_one(rt, me, q, T0 + timedelta(seconds=i)) for i in range(6)]
    async with rt.sessions() as s:
        got = {t: (await ticketing.get_for(s, t, a1)).assignee_id for t in ids}
    counts = {a1.id: 0, a2.id: 0, None: 0}
    for v in got.values():
        counts[v] += 1
    assert counts == {a1.id: 2, a2.id: 3, None: 1}
    backlog = next(t for t, v in got.items() if v is None)
    done = next(t for t, v in got.items() if v == a1.id)
    async with rt.sessions() as s, s.begin():
        await ticketing.transition(s, done, a1, to="resolved", now=T0 + timedelta(minutes=5))
    async with rt.sessions() as s:
        assert (await ticketing.get_for(s, backlog, a1)).assignee_id == a1.id


async def test_followup_satisfaction_and_report(tk_runtime: Runtime) -> None:
    rt, me = tk_runtime, customer()
    a1 = agent()
    q = await make_queue(rt, agents=[(a1.id, 5)])
    tid = await open_one(rt, me, q)
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(
            s, tid, a1, body="Refunding", public=True, now=T0 + timedelta(minutes=10)
        )
        await ticketing.transition(s, tid, a1, to="resolved", now=T0 + timedelta(hours=1))
    v = await view(rt, tid, a1, T0 + timedelta(hours=1))
    fu = v["followups"][0]
    assert fu["agent_id"] == a1.id and fu["due_at"] == (T0 + timedelta(hours=9)).isoformat()
    async with rt.sessions() as s, s.begin():
        await ticketing.record_attempt(
            s, fu["id"], a1, outcome="no_answer", note=None, score=None, now=T0
        )
        with pytest.raises(ValidationFailed):
            await ticketing.record_attempt(
                s, fu["id"], a1, outcome="reached", note=None, score=9, now=T0
            )
        await ticketing.record_attempt(
            s, fu["id"], a1, outcome="reached", note="happy", score=5, now=T0
        )
    async with rt.sessions() as s:
        rep = await ticketing.ticket_report(
            s, start=T0, end=T0 + timedelta(seconds=1), now=T0 + timedelta(hours=2)
        )
    assert rep["satisfaction"]["by_agent"][a1.id] == {"count": 1, "avg": 5.0}
    assert rep["sla"]["by_queue"][q]["first_response"]["attainment"] == 1.0
    assert "satisfaction" in ticketing.report_csv(rep)


async def test_links_only_the_customers_own_orders(tk_runtime: Runtime) -> None:
    from tests.integration.commerce.helpers import make_offer, place

    rt, me, other = tk_runtime, customer(), customer()
    q = await make_queue(rt)
    offer = await make_offer(rt)
    mine = await place(rt, me.id, (offer.id, 1))
    theirs = await place(rt, other.id, (offer.id, 1))
    tid = await open_one(rt, me, q, order_ids=[mine.id])
    assert (await view(rt, tid, me, T0))["order_ids"] == [mine.id]
    for bad in (theirs.id, "nosuchorder"):
        with pytest.raises(ValidationFailed):
            await open_one(rt, me, q, order_ids=[bad])


async def test_concurrent_openings_never_overfill_an_agent(tk_runtime: Runtime) -> None:
    rt, me, a1 = tk_runtime, customer(), agent()
    q = await make_queue(rt, agents=[(a1.id, 2)])
    ids = await asyncio.gather(*(open_one(rt, me, q, T0 + timedelta(seconds=i)) for i in range(6)))
    async with rt.sessions() as s:
        owners = [(await ticketing.get_for(s, t, a1)).assignee_id for t in ids]
    assert owners.count(a1.id) == 2 and owners.count(None) == 4


async def test_refund_reference_and_sms_satisfaction(tk_runtime: Runtime) -> None:
    from core.errors import Conflict
    from tests.integration.commerce.helpers import make_offer, place

    rt, me, a1, sup = tk_runtime, customer(), agent(), agent("supervisor")
    q = await make_queue(rt, agents=[(a1.id, 5)])
    order = await place(rt, me.id, ((await make_offer(rt)).id, 1))
    tid = await open_one(rt, me, q, order_ids=[order.id])
    refund = f"re_{uid()}"
    async with rt.sessions() as s, s.begin():
        for refunded in (None, "another-order"):  # no such refund; one of an unlinked order
            with pytest.raises(ValidationFailed) as bad:
                await ticketing.note_refund(
                    s, tid, sup, refund_id=refund, refunded_order_id=refunded, now=T0
                )
            assert bad.value.errors[0]["field"] == "refund_id"
        await ticketing.note_refund(
            s, tid, sup, refund_id=refund, refunded_order_id=order.id, now=T0
        )
    async with rt.sessions() as s, s.begin():
        with pytest.raises(Conflict):
            await ticketing.note_refund(
                s, tid, sup, refund_id=refund, refunded_order_id=order.id, now=T0
            )
        with pytest.raises(NotFound):
            await ticketing.note_refund(
                s, tid, me, refund_id="re_x", refunded_order_id=order.id, now=T0
            )
    async with rt.sessions() as s, s.begin():
        number = (await ticketing.get_for(s, tid, a1)).number
        with pytest.raises(ValidationFailed):  # not resolved yet
            await ticketing.record_satisfaction(s, tid, score=4, source="sms", actor="sms", now=T0)
        await ticketing.transition(s, tid, a1, to="resolved", now=T0 + timedelta(minutes=3))
    async with rt.sessions() as s, s.begin():
        t = await ticketing.find_by_number(s, number)
        with pytest.raises(ValidationFailed):
            await ticketing.record_satisfaction(s, t.id, score=6, source="sms", actor="sms", now=T0)
        await ticketing.record_satisfaction(s, t.id, score=4, source="sms", actor="sms", now=T0)
    v = await view(rt, tid, a1, T0 + timedelta(minutes=5))
    assert v["refunds"] == [refund] and v["satisfaction"] == 4


async def test_level_crossed_just_before_a_pause_still_fires(tk_runtime: Runtime) -> None:
    rt, me, staff = tk_runtime, customer(), agent()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)  # high: resolution 8 h, 75% at 6 h
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(s, tid, staff, body="On it", public=True, now=T0)
        await ticketing.transition(s, tid, staff, to="open", now=T0)
        await ticketing.transition(
            s, tid, staff, to="pending_partner", now=T0 + timedelta(hours=6, minutes=5)
        )
    run = await ticketing.escalate_due(rt.sessions, T0 + timedelta(hours=7))
    assert [(f[1], f[2]) for f in run.fired if f[0] == tid] == [("resolution", "warn75")]
    v = await view(rt, tid, staff, T0 + timedelta(days=3))
    assert v["sla"]["resolution"]["paused"] and v["sla"]["resolution"]["due_at"] is None


async def test_clock_events_of_one_instant_keep_the_order_they_were_written(
    tk_runtime: Runtime,
) -> None:
    """Opened and answered at the same instant: start must fold before stop, whatever order
    the database would return rows that share a timestamp in."""
    rt, me, staff = tk_runtime, customer(), agent()
    q = await make_queue(rt)
    tid = await open_one(rt, me, q)
    async with rt.sessions() as s, s.begin():
        await ticketing.add_comment(s, tid, staff, body="Answered at once", public=True, now=T0)
    async with rt.sessions() as s:
        events = await clock_events(s, tid)
    first = [e.kind for e in events if e.clock == "first_response"]
    assert first == ["start", "stop"]
    v = await view(rt, tid, staff, T0 + timedelta(days=3))
    assert v["sla"]["first_response"]["breached_at"] is None


async def test_ticket_summaries_match_each_tickets_own_view(tk_runtime: Runtime) -> None:
    """The batched summaries (a page listing tickets) equal ticket_view(full=False) of each:
    clocks running, paused and stopped, in two queues."""
    rt, staff = tk_runtime, agent()
    q1, q2 = await make_queue(rt), await make_queue(rt)
    ids = [await open_one(rt, customer(), q) for q in (q1, q2, q1)]
    async with rt.sessions() as s, s.begin():
        await ticketing.transition(s, ids[1], staff, to="open", now=T0)
        await ticketing.transition(
            s, ids[1], staff, to="pending_customer", now=T0 + timedelta(minutes=9)
        )
    now = T0 + timedelta(hours=3)
    async with rt.sessions() as s:
        tickets = [await ticketing.get_for(s, i, staff) for i in ids]
        one_by_one = [await ticketing.ticket_view(s, t, staff, now, full=False) for t in tickets]
        batched = await ticketing.ticket_summaries(s, tickets, now)
        assert await ticketing.ticket_summaries(s, [], now) == []
    assert batched == one_by_one
    assert [v["queue"] for v in batched] == [q1, q2, q1]
