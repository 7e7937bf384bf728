"""Races on PostgreSQL: two agents answering one waiting call, and the provider's status
callback crossing an answer. One conditional UPDATE guards each move, so exactly one wins."""

from __future__ import annotations

import asyncio

import ticketing
from core.errors import Conflict
from core.runtime import Runtime
from tests.auth_fixtures import TestCustomer, make_agent

from .conftest import caller


async def waiting_call(voice_client, phone: str) -> str:
    c = caller(voice_client, phone)
    said = await c.walk(["0"])
    assert said[-1].enqueued == "general"
    return c.call_sid


async def test_two_agents_answer_one_call_once(
    voice_client, runtime: Runtime, customer: TestCustomer
) -> None:
    agents = [await make_agent(runtime) for _ in range(4)]
    for _ in range(3):
        sid = await waiting_call(voice_client, customer.phone)

        async def answer(agent_id: str, sid: str = sid) -> str:
            try:
                async with runtime.sessions() as s, s.begin():
                    call = await ticketing.answer_call(s, sid, agent_id, runtime.clock.now())
                    return str(call.agent_id)
            except Conflict:
                return "refused"

        results = await asyncio.gather(*(answer(a.id) for a in agents))
        winners = [r for r in results if r != "refused"]
        assert len(winners) == 1 and results.count("refused") == 3
        async with runtime.sessions() as s:
            assert (await ticketing.get_call(s, sid)).agent_id == winners[0]


async def test_hang_up_crossing_an_answer_ends_the_call_once(
    voice_client, runtime: Runtime, customer: TestCustomer
) -> None:
    agent = await make_agent(runtime)
    sid = await waiting_call(voice_client, customer.phone)
    now = runtime.clock.now()

    async def answer() -> str:
        try:
            async with runtime.sessions() as s, s.begin():
                await ticketing.answer_call(s, sid, agent.id, now)
            return "answered"
        except Conflict:
            return "refused"

    async def hang_up() -> str | None:
        async with runtime.sessions() as s, s.begin():
            return await ticketing.end_call(
                s, sid, provider_status="completed", duration_seconds=30, now=now
            )

    answered, outcome = await asyncio.gather(answer(), hang_up())
    async with runtime.sessions() as s:
        call = await ticketing.get_call(s, sid)
    assert call.status == "ended"
    # either the answer came first (handled) or the caller hung up waiting (abandoned)
    assert (answered, outcome) in (("answered", "handled"), ("refused", "abandoned"))
    assert call.outcome == outcome
    async with runtime.sessions() as s, s.begin():  # a repeated callback changes nothing
        assert (
            await ticketing.end_call(
                s, sid, provider_status="completed", duration_seconds=1, now=now
            )
            is None
        )
