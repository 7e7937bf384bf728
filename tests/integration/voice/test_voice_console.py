"""The IVR's hand-off in the console, in-process: a keypad verification shows as "verified by
keypad" on the screen pop of the caller it verified and nowhere else (not on another caller's
record, even with the first call's CallSid), shows nothing once expired, and answering from
the console hands a good one to the agent, so the booking form asks no PIN."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import commerce
from core.clock import TravelClock
from core.money import Money
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, fixture_sessions
from web.live import wallboard_channel

from .conftest import caller

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
NEEDS_PIN = "Verify the caller&#39;s PIN before placing the order."


async def _sign_in(c: Any, who: TestAgent) -> dict[str, str]:
    c.cookies.clear()
    form = await c.get("/console/sign-in")
    token = re.search(r'name="_csrf" value="([^"]+)"', form.text)
    assert token
    r = await c.post(
        "/console/sign-in",
        data={"_csrf": token.group(1), "username": who.username, "password": who.password},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    desk = await c.get("/console/")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', desk.text)
    assert csrf
    return {**EN, "HX-Request": "true", "X-CSRF-Token": csrf.group(1)}


async def _pop(c: Any, **query: str) -> Any:
    r = await c.get("/console/calls/new", params=query, headers=EN, follow_redirects=True)
    assert r.status_code == 200, r.text[:400]
    return r


async def _waiting_call(client: Any, who: TestCustomer) -> str:
    """A call that hears its open complaints after the PIN, then presses 0."""
    c = caller(client, who.phone)
    said = await c.walk(["4", who.pin + "#", "0"])
    assert said[-1].enqueued == "general", [h.text for h in said]
    return c.call_sid


async def test_keypad_badge_only_on_the_verified_callers_record_and_only_while_good(
    voice_client: Any,
    runtime: Runtime,
    clock: TravelClock,
    customer: TestCustomer,
    other_customer: TestCustomer,
    agent: TestAgent,
    supervisor: TestAgent,
) -> None:
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="IVR seats",
            venue="Hall",
            price=Money(10000, "CNY"),
            starts_at=clock.now() + timedelta(days=9),
            capacity=5,
            now=clock.now(),
        )
    sid = await _waiting_call(voice_client, customer)
    try:
        h = await _sign_in(voice_client, agent)
        pop = await _pop(voice_client, **{"from": customer.phone})
        assert f'data-call-sid="{sid}"' in pop.text and 'id="keypad-badge"' in pop.text
        badge = re.search(r"id=\"keypad-badge\">([^<]*)<", pop.text)
        assert badge, pop.text
        assert re.fullmatch(r"✔ Verified by keypad · 1[45] min left", badge.group(1))
        path = re.search(r'<ol class="path" id="ivr-path">(.*?)</ol>', pop.text, re.S)
        assert path and "open complaints" in path.group(1) and "asked for an agent" in path.group(1)
        assert not re.search(r"\d", path.group(1))  # words, never the keys pressed
        assert "General queue" in pop.text
        # a softphone's CallSid finds the same record; in Chinese, in words too
        zh = await voice_client.get(
            "/console/calls/new", params={"call_sid": sid}, headers=ZH, follow_redirects=True
        )
        assert 'id="keypad-badge"' in zh.text and "已按键核验" in zh.text
        assert "投诉进度" in zh.text and "要求人工服务" in zh.text and "综合队列" in zh.text

        # another caller's record never shows it: by number, or with this call's CallSid
        other = await _pop(voice_client, **{"from": other_customer.phone})
        assert "keypad-badge" not in other.text and "ivr-call" not in other.text
        forged = await voice_client.get(
            f"/console/customers/{other_customer.id}?call=1&call_sid={sid}", headers=EN
        )
        assert forged.status_code == 200
        assert "keypad-badge" not in forged.text and "ivr-call" not in forged.text
        assert "Verified by keypad" not in forged.text

        # before the answer the check is not the agent's yet; answering hands it over
        quote_url = f"/console/customers/{customer.id}/quote?offer={offer.id}&method=e_ticket"
        assert NEEDS_PIN in (await voice_client.get(quote_url, headers=h)).text
        answered = await voice_client.post(f"/console/calls/{sid}/answer", headers=h)
        assert answered.status_code == 200, answered.text[:400]
        assert "Answered by you" in answered.text and 'id="verified-badge"' in answered.text
        assert "Verified by keypad" in answered.text and 'hx-swap-oob="true"' in answered.text
        assert NEEDS_PIN not in (await voice_client.get(quote_url, headers=h)).text
        record = await voice_client.get(f"/v1/calls/{sid}", headers=agent.headers)
        assert record.json()["agent_id"] == agent.id and record.json()["status"] == "answered"

        # the other caller, verified by keypad too, waits past the verification's life
        late = await _waiting_call(voice_client, other_customer)
        clock.advance(timedelta(minutes=16))
        stale = await _pop(voice_client, call_sid=late)
        assert f'data-call-sid="{late}"' in stale.text  # the call itself still shows
        assert "keypad-badge" not in stale.text and "Verified by keypad" not in stale.text
        taken = await voice_client.post(f"/console/calls/{late}/answer", headers=h)
        assert taken.status_code == 200 and "verified-badge" not in taken.text
        other_quote = f"/console/customers/{other_customer.id}/quote?offer={offer.id}"
        assert NEEDS_PIN in (await voice_client.get(other_quote, headers=h)).text
        # the API agrees: the lapsed keypad check was neither handed over nor renewed
        lapsed = (await voice_client.get(f"/v1/calls/{late}", headers=agent.headers)).json()
        assert lapsed["agent_id"] == agent.id
        assert lapsed["verification_detail"]["agent_id"] is None

        # the supervisor's wallboard counts the phone's queues
        await _sign_in(voice_client, supervisor)
        board = await voice_client.get("/console/wallboard", headers=EN)
        assert 'data-call-queue="general"' in board.text and "Service level" in board.text
    finally:
        voice_client.cookies.clear()


async def test_a_queued_calls_moves_reach_the_wallboards_channel(
    voice_client: Any, voice_settings: Any, customer: TestCustomer, agent: TestAgent
) -> None:
    """Enqueued (webhook), answered (`POST /v1/calls/{sid}/answer`) and ended (the status
    callback) each publish a notice after their commit: what the wallboards' streams hear."""
    import redis.asyncio

    listening = redis.asyncio.from_url(voice_settings.redis_url)
    pubsub = listening.pubsub()
    await pubsub.subscribe(wallboard_channel(voice_settings))
    try:
        c = caller(voice_client, customer.phone)
        said = await c.walk(["0"])
        assert said[-1].enqueued == "general"
        answered = await voice_client.post(f"/v1/calls/{c.call_sid}/answer", headers=agent.headers)
        assert answered.status_code == 200
        assert await c.hang_up("completed", duration=30) == 204
        heard: set[str] = set()
        for _ in range(60):
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if message is not None:
                notice = json.loads(message["data"])
                if notice.get("call_sid") == c.call_sid:
                    heard.add(notice["step"])
            if heard == {"enqueued", "answered", "ended"}:
                break
        assert heard == {"enqueued", "answered", "ended"}
    finally:
        await pubsub.aclose()
        await listening.aclose()
