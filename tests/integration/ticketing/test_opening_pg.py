"""A customer's ticket opened in one statement (ticketing/opening_pg.py) against the plain way
(service.open_ticket + ticket_view in a session): the same answer, the same rows; an agent with
room still gets the ticket; the answer is replayed for its Idempotency-Key; and openings racing
an agent who frees up never leave a ticket waiting while someone has room."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

import ticketing
from core.principal import Principal
from core.runtime import Runtime
from tests.integration.ticketing.test_ticketing_service import agent, make_queue
from ticketing.assignment import ACTIVE
from ticketing.domain import Status
from ticketing.models import ClockSegment, Ticket, TicketEvent

IGNORED = {"id", "number", "ticket_id"}


def same(a: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in a.items() if k not in IGNORED}


async def post(client: Any, who: Any, key: str | None = None, **extra: Any) -> Any:
    body = {"category": "billing", "subject": " 话费扣错了 ", "description": "多扣 30 元",
            "priority": "high", **extra}  # fmt: skip
    headers = {**who.headers, **({"Idempotency-Key": key} if key else {})}
    return await client.post("/v1/tickets", json=body, headers=headers)


async def rows(rt: Runtime, tid: str) -> dict[str, Any]:
    async with rt.sessions() as s:
        t = await s.get_one(Ticket, tid)
        events = (
            await s.execute(select(TicketEvent).where(TicketEvent.ticket_id == tid))
        ).scalars()
        clocks = (
            await s.execute(select(ClockSegment).where(ClockSegment.ticket_id == tid))
        ).scalars()
        cols = lambda o: {c.key: getattr(o, c.key) for c in o.__mapper__.columns}  # noqa: E731
        return {
            "ticket": same(cols(t)),
            "events": sorted((same(cols(e)) for e in events), key=lambda e: e["seq"]),
            "clocks": sorted((same(cols(c)) for c in clocks), key=lambda c: c["seq"]),
        }


async def plain(rt: Runtime, who: Any, tid_fast: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """The same request the plain way, at the fast ticket's moment."""
    principal = Principal("customer", who.id)
    async with rt.sessions() as s, s.begin():
        at = (await s.get_one(Ticket, tid_fast)).created_at
        t = await ticketing.open_ticket(
            s, principal, now=at, category="billing", subject=" 话费扣错了 ",
            description="多扣 30 元", priority="high", **extra,
        )  # fmt: skip
        return t.id, await ticketing.ticket_view(s, t, principal, at)


async def test_one_statement_opening_answers_and_writes_as_the_plain_way(
    client: Any, tk_runtime: Runtime, customer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = tk_runtime
    q = await make_queue(rt)  # nobody to assign to: the one-statement way

    async def not_the_plain_way(*_: Any, **__: Any) -> None:
        raise AssertionError("the plain way ran")

    monkeypatch.setattr(ticketing, "open_ticket", not_the_plain_way)
    key = uuid.uuid4().hex
    r = await post(client, customer, key, queue=q)
    assert r.status_code == 201, r.text
    monkeypatch.undo()
    fast = r.json()
    async with rt.sessions() as s:
        assert (await s.get_one(Ticket, fast["id"])).number == fast["number"]
    tid, view = await plain(rt, customer, fast["id"], queue=q)
    assert same(fast) == same(view)
    assert fast["timeline"][0]["after"]["queue"] == q and fast["status"] == "new"
    assert await rows(rt, fast["id"]) == await rows(rt, tid)
    again = await post(client, customer, key, queue=q)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == fast


async def test_category_route_picks_the_queue_the_plain_way_picks(
    client: Any, tk_runtime: Runtime, customer: Any
) -> None:
    r = await post(client, customer, priority="urgent")
    assert r.status_code == 201, r.text
    _, view = await plain(tk_runtime, customer, r.json()["id"])
    assert r.json()["queue"] == view["queue"]


async def test_an_agent_with_room_still_gets_the_ticket(
    client: Any, tk_runtime: Runtime, customer: Any
) -> None:
    staff = agent()
    q = await make_queue(tk_runtime, agents=[(staff.id, 1)])
    first = (await post(client, customer, queue=q)).json()
    second = (await post(client, customer, queue=q)).json()
    assert (first["assignee_id"], first["status"]) == (staff.id, "open")
    assert (second["assignee_id"], second["status"]) == (None, "new")  # cap 1: one statement
    assert await rows(tk_runtime, second["id"])  # written


async def test_openings_racing_a_freed_agent_leave_no_ticket_waiting(
    client: Any, tk_runtime: Runtime, customer: Any
) -> None:
    rt, staff = tk_runtime, agent()
    q = await make_queue(rt, agents=[(staff.id, 2)])
    for round_ in range(4):
        held = [t["id"] for t in await _active(rt, q) if t["assignee_id"] == staff.id]
        while len(held) < 2:  # fill the agent up
            held.append((await post(client, customer, queue=q)).json()["id"])

        async def resolve(tid: str) -> None:
            async with rt.sessions() as s, s.begin():
                who = Principal("agent", staff.id, frozenset({"agent"}))
                await ticketing.transition(s, tid, who, to="resolved", now=rt.clock.now())

        results = await asyncio.gather(
            resolve(held[round_ % 2]),  # the agent frees up while customers open more
            *(post(client, customer, queue=q) for _ in range(6)),
        )
        assert all(r.status_code == 201 for r in results[1:])
        active = await _active(rt, q)
        mine = [t for t in active if t["assignee_id"] == staff.id]
        waiting = [t for t in active if t["assignee_id"] is None]
        assert len(mine) == 2, round_  # never past the cap, and refilled
        assert waiting  # the rest wait for the next free agent


async def _active(rt: Runtime, code: str) -> list[dict[str, Any]]:
    async with rt.sessions() as s:
        q = await ticketing.setup.queue_by_code(s, code)
        found = (
            await s.execute(
                select(Ticket).where(Ticket.queue_id == q.id, Ticket.status.in_(ACTIVE))
            )
        ).scalars()
        return [{"id": t.id, "assignee_id": t.assignee_id,
                 "new": t.status == Status.NEW.value} for t in found]  # fmt: skip


async def test_a_key_sent_at_once_many_times_opens_one_ticket(
    client: Any, tk_runtime: Runtime, customer: Any
) -> None:
    q = await make_queue(tk_runtime)
    key = uuid.uuid4().hex
    answers = await asyncio.gather(*(post(client, customer, key, queue=q) for _ in range(6)))
    assert [a.status_code for a in answers] == [201] * 6
    assert len({a.json()["id"] for a in answers}) == 1
    async with tk_runtime.sessions() as s:
        q_id = (await ticketing.setup.queue_by_code(s, q)).id
        n = len(list((await s.execute(select(Ticket.id).where(Ticket.queue_id == q_id))).all()))
    assert n == 1
    other = await post(client, customer, key, queue=q, subject="another request")
    assert other.status_code == 422  # the same key with another body


async def test_a_changed_policy_is_used_at_once(
    client: Any, tk_runtime: Runtime, customer: Any
) -> None:
    q = await make_queue(tk_runtime)
    before = (await post(client, customer, queue=q, category="product")).json()
    async with tk_runtime.sessions() as s, s.begin():
        await ticketing.set_policy(
            s, category="product", priority="high", first_response_s=600, next_response_s=600,
            resolution_s=3600, now=tk_runtime.clock.now(),
        )  # fmt: skip
    after = (await post(client, customer, queue=q, category="product")).json()
    assert before["sla"]["first_response"]["target_business_seconds"] != 600
    assert after["sla"]["first_response"]["target_business_seconds"] == 600
    async with tk_runtime.sessions() as s:
        assert (await s.get_one(Ticket, after["id"])).policy["first_response"] == 600


async def test_a_customer_naming_another_customer_is_still_refused(
    client: Any, tk_runtime: Runtime, customer: Any, other_customer: Any
) -> None:
    q = await make_queue(tk_runtime)
    r = await post(client, customer, queue=q, customer_id=other_customer.id)
    assert r.status_code == 403, r.text
