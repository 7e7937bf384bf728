"""The set-based escalation pass (ticketing/escalation_pg.py) against the plain one: the same
tickets, built twice by the same steps, escalated at the same moments, leave the same
escalations, timeline, inbox, outbox messages and next looks; racing workers still fire each
level once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

import ticketing
from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from tests.integration.ticketing.test_ticketing_service import T0, agent, customer, make_queue
from ticketing.models import AgentNotification, Escalation, Ticket, TicketEvent

PASSES = [T0 + d for d in (timedelta(minutes=31), timedelta(hours=3), timedelta(hours=9),
                           timedelta(days=3))]  # fmt: skip


async def relayed(rt: Runtime, ids: list[str]) -> None:
    """Mark these tickets' escalation messages sent: the package shares one database, and a
    later test relaying its outbox (100 a batch) must not find it crowded with ours."""
    async with rt.sessions() as s, s.begin():
        await s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.topic == "ticket.escalated",
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.payload["ticket_id"].as_string().in_(ids),
            )
            .values(sent_at=rt.clock.now())
        )


async def build(rt: Runtime) -> tuple[list[str], dict[str, str]]:
    """Five tickets in a fresh queue: assigned, unassigned, answered then replied to (a new
    next-response cycle), waiting on the customer (paused), and a normal one."""
    me, a1, sup = customer(), agent(), agent("supervisor")
    q = await make_queue(rt, agents=[(a1.id, 1)], supervisor=sup.id)
    names = {a1.id: "a1", sup.id: "sup"}
    ids: list[str] = []

    async def open_at(at: datetime, priority: str) -> str:
        async with rt.sessions() as s, s.begin():
            t = await ticketing.open_ticket(
                s, me, now=at, category="billing", subject="s", description="d",
                queue=q, priority=priority,
            )  # fmt: skip
            ids.append(t.id)
            return t.id

    await open_at(T0, "high")  # goes to a1 (cap 1)
    await open_at(T0 + timedelta(minutes=1), "urgent")
    answered = await open_at(T0 + timedelta(minutes=2), "high")
    waiting = await open_at(T0 + timedelta(minutes=3), "high")
    await open_at(T0 + timedelta(minutes=4), "normal")
    staff = Principal("agent", a1.id, frozenset({"agent"}))
    async with rt.sessions() as s, s.begin():
        at = T0 + timedelta(minutes=5)
        await ticketing.add_comment(s, answered, staff, body="on it", public=True, now=at)
        await ticketing.add_comment(s, answered, me, body="news?", public=True, now=at)
        await ticketing.transition(s, waiting, staff, to="open", now=at)
        await ticketing.transition(s, waiting, staff, to="pending_customer", now=at)
    return ids, names


async def outcome(rt: Runtime, ids: list[str], names: dict[str, str]) -> list[dict[str, Any]]:
    def who(agents: list[str]) -> list[str]:
        return [names.get(a, a) for a in agents]

    out = []
    async with rt.sessions() as s:
        messages = [
            m.payload
            for m in (
                await s.execute(
                    select(OutboxMessage).where(OutboxMessage.topic == "ticket.escalated")
                )
            ).scalars()
        ]
        for tid in ids:
            t = await s.get_one(Ticket, tid)
            escalations = (
                await s.execute(select(Escalation).where(Escalation.ticket_id == tid))
            ).scalars()
            events = (
                await s.execute(
                    select(TicketEvent)
                    .where(TicketEvent.ticket_id == tid)
                    .order_by(TicketEvent.seq)
                )
            ).scalars()
            inbox = (
                await s.execute(select(AgentNotification).where(AgentNotification.ticket_id == tid))
            ).scalars()
            out.append(
                {
                    "escalations": sorted(
                        (e.clock, e.cycle, e.level, who(e.notified), e.fired_at)
                        for e in escalations
                    ),
                    "timeline": [
                        (
                            e.seq,
                            e.kind,
                            e.actor,
                            e.public,
                            e.at,
                            {
                                **(e.after or {}),
                                "notified": who((e.after or {}).get("notified", [])),
                            },
                        )
                        for e in events
                        if e.kind == "escalation"
                    ],
                    "inbox": sorted((names[n.agent_id], n.clock, n.level) for n in inbox),
                    "outbox": sorted(
                        (m["clock"], m["cycle"], m["level"], who(m["notify"]))
                        for m in messages
                        if m["ticket_id"] == tid
                    ),
                    "check_at": t.check_at,
                    "breach_at": t.breach_at,
                    "seqs": [e.seq for e in events],
                }
            )
    return out


async def test_set_based_pass_leaves_what_the_plain_pass_leaves(tk_runtime: Runtime) -> None:
    rt = tk_runtime
    plain_ids, plain_names = await build(rt)
    plain_fired = []
    for at in PASSES:
        run = await ticketing.escalate_due(rt.sessions, at, set_based=False)
        assert not run.set_based
        plain_fired.append(
            [(plain_ids.index(t), c, lv) for t, c, lv in run.fired if t in plain_ids]
        )
    set_ids, set_names = await build(rt)
    set_fired = []
    for at in PASSES:
        run = await ticketing.escalate_due(rt.sessions, at, set_based=True)
        assert run.set_based and not run.failed
        set_fired.append([(set_ids.index(t), c, lv) for t, c, lv in run.fired if t in set_ids])
    assert sum(map(len, plain_fired)) >= 12  # canary: the scenario escalates a lot
    assert [sorted(f) for f in set_fired] == [sorted(f) for f in plain_fired]
    plain, by_set = await outcome(rt, plain_ids, plain_names), await outcome(rt, set_ids, set_names)
    await relayed(rt, plain_ids + set_ids)
    assert by_set == plain


async def test_racing_set_based_workers_fire_each_level_once(tk_runtime: Runtime) -> None:
    rt, me, sup = tk_runtime, customer(), agent("supervisor")
    q = await make_queue(rt, supervisor=sup.id)
    ids = []
    for i in range(20):
        async with rt.sessions() as s, s.begin():
            t = await ticketing.open_ticket(
                s, me, now=T0 + timedelta(seconds=i), category="billing", subject="s",
                description="d", queue=q, priority="high",
            )  # fmt: skip
            ids.append(t.id)
    when = T0 + timedelta(minutes=31)
    runs = await asyncio.gather(
        *(ticketing.escalate_due(rt.sessions, when, set_based=True) for _ in range(3))
    )
    fired = [f for r in runs for f in r.fired if f[0] in ids]
    assert len(fired) == len(set(fired)) == 20 * 3  # first response: warn75, warn90, breach
    async with rt.sessions() as s:
        rows = (
            await s.execute(select(Escalation.ticket_id).where(Escalation.ticket_id.in_(ids)))
        ).all()
        seqs = (
            await s.execute(
                select(TicketEvent.ticket_id, TicketEvent.seq).where(TicketEvent.ticket_id.in_(ids))
            )
        ).all()
    await relayed(rt, ids)
    assert len(rows) == 60
    for tid in ids:
        assert sorted(n for t, n in seqs if t == tid) == [1, 2, 3, 4]  # created + 3 escalations
