"""What the voice webhooks refuse or ignore: IVR steps of a call already handed to a queue
(no PIN attempt, no path entry), Digits no keypad sends (no PIN attempt: a re-prompt), and ids
or numbers no provider sends (422 naming the field, nothing stored)."""

from __future__ import annotations

from sqlalchemy import func, select

import auth
import ticketing
from api.voice_state import CallStates
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, make_customer

from .conftest import PUBLIC, caller

PIN_URL = f"{PUBLIC}/v1/voice/gather/pin"
MENU_URL = f"{PUBLIC}/v1/voice/gather/menu"


async def ivr_failures(runtime: Runtime, phone: str) -> int:
    async with runtime.sessions() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(auth.AuditEvent)
            .where(auth.AuditEvent.subject == phone, auth.AuditEvent.channel == "ivr")
        )
    return int(n or 0)


async def throttle_fails(runtime: Runtime, phone: str) -> int:
    gate = auth.build_throttle(runtime)
    return int(await runtime.redis.get(f"{gate.prefix}:{phone}:fails") or 0)


async def test_a_call_handed_to_a_queue_takes_no_more_ivr_steps(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    customer = await make_customer(runtime)
    c = caller(voice_client, customer.phone)
    said = await c.walk(["1", "111111", "222222"])
    assert said[-1].enqueued == "delivery"
    path = ["1", "pin:wrong", "pin:wrong", "queue:delivery"]
    states = CallStates.build(runtime)
    state = await states.load(c.call_sid)
    assert state is not None and state.path == path
    # replayed or forged posts for this CallSid: the queue again (what a retry of the step
    # that enqueued must hear), nothing said, nothing counted
    for url, digits in ((PIN_URL, "333333"), (PIN_URL, customer.pin), (MENU_URL, "1")):
        heard = await c.step(url, {"Digits": digits})
        assert heard.status == 200 and heard.enqueued == "delivery" and not heard.says
        assert heard.gather is None
    again = await c.dial()  # a repeated first webhook does not start the menu over
    assert again.enqueued == "delivery" and not again.says
    assert (await states.load(c.call_sid)).path == path  # type: ignore[union-attr]
    # the state is lost (Redis flushed, or its TTL ran out while the caller waited): the
    # record still says the call left the menu
    await states.forget(c.call_sid)
    heard = await c.step(PIN_URL, {"Digits": "444444"})
    assert heard.enqueued == "delivery" and not heard.says
    assert await states.load(c.call_sid) is None
    async with runtime.sessions() as s:
        record = await ticketing.get_call(s, c.call_sid)
        assert record.menu_path == path and record.status == "waiting"
        assert record.verification == "failed"
    assert await ivr_failures(runtime, customer.phone) == 2
    assert await throttle_fails(runtime, customer.phone) == 2


async def test_digits_no_keypad_sends_are_no_pin_attempt(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    customer = await make_customer(runtime)
    c = caller(voice_client, customer.phone)
    asked = (await c.walk(["1"]))[-1]
    assert asked.gather == PIN_URL
    full_width = customer.pin.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    for junk in ("abcdef", full_width):  # heard as no input: the PIN asked again
        heard = await c.step(PIN_URL, {"Digits": junk})
        assert heard.gather == PIN_URL and "没有收到您的按键" in heard.text, junk
    last = await c.step(PIN_URL, {"Digits": "5" * 5000})  # the third: an agent, as silence
    assert last.enqueued == "delivery"
    async with runtime.sessions() as s:
        record = await ticketing.get_call(s, c.call_sid)
    assert record.menu_path == ["1", "silent", "queue:delivery"]
    assert record.verification == "none"
    assert await ivr_failures(runtime, customer.phone) == 0
    assert await throttle_fails(runtime, customer.phone) == 0
    # a keypad's own keys are still a PIN attempt (a * is a key the caller pressed)
    d = caller(voice_client, customer.phone)
    said = await d.walk(["4", "27*915"])
    assert "密码不正确" in said[-1].text
    assert await throttle_fails(runtime, customer.phone) == 1


async def test_ids_and_numbers_no_provider_sends_are_422(voice_client, runtime: Runtime) -> None:
    customer = await make_customer(runtime)
    for sid in ("CA\x1b[31m", "CA 1", "CAé1", "CA" + "0" * 63, "CA/../x", "CA\u200b1"):
        c = caller(voice_client, customer.phone, call_sid=sid)
        for path in ("/v1/voice/incoming", "/v1/voice/gather/menu", "/v1/voice/status"):
            params = {**c.fields, "CallStatus": "completed", "Digits": "1"}
            r = await voice_client.post(
                path, data=params, headers={"X-Twilio-Signature": c.signature(path, params)}
            )
            assert r.status_code == 422, (sid, path, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["errors"][0]["field"] == "CallSid"
        async with runtime.sessions() as s:
            assert await ticketing.find_call(s, sid) is None
    # a bridge's own ids (a UUID) are fine
    ok = caller(voice_client, customer.phone, call_sid="3f1c2a9e-8d7b-4c1e-9f00-2b6d7e8a1c55")
    assert (await ok.dial()).gather
    for field, value in (("To", "+86400\x1b[31m"), ("From", "+86138\x1b[31m")):
        c = caller(voice_client, customer.phone)
        path, params = "/v1/voice/incoming", {**c.fields, field: value}
        r = await voice_client.post(
            path, data=params, headers={"X-Twilio-Signature": c.signature(path, params)}
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
        async with runtime.sessions() as s:
            assert await ticketing.find_call(s, c.call_sid) is None


async def test_a_duration_in_other_digits_is_no_duration(voice_client, runtime: Runtime) -> None:
    """str.isdigit() holds for '²' and int() refuses it: the status callback was a 500."""
    customer = await make_customer(runtime)
    for raw in ("²", "１７"):
        c = caller(voice_client, customer.phone)
        await c.walk(["1"])
        resp = await c.post("/v1/voice/status", {"CallStatus": "completed", "CallDuration": raw})
        assert resp.status_code == 204, resp.text
        async with runtime.sessions() as s:
            record = await ticketing.get_call(s, c.call_sid)
        assert record.status == "ended" and record.duration_seconds != 17
