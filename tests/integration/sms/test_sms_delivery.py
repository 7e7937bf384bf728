"""The `sms.send` job and the SMS webhooks: a text is handed to the provider once per outbox
message, an outage is retried from the outbox, a refusal is final, a job that died mid-send is
requeued; inbound messages are answered once per MessageSid, even two copies at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from api import sms_events
from core.outbox import OutboxMessage
from core.runtime import Runtime
from core.sms import SmsInbound
from core.sms_delivery import LEASE_SECONDS, answer_once, deliver, requeue_stale
from tests.auth_fixtures import make_agent, make_customer, random_cn_mobile
from tests.integration.sms.conftest import messages, post_status, relay, services, signed
from tests.twilio_server import TwilioServer
from ticketing.models import Ticket


async def queue(rt: Runtime, phone: str, body: str = "hello") -> str:
    async with rt.sessions() as s, s.begin():
        return await services(rt).sms.send(s, phone, body, purpose="test")


async def test_redelivered_job_does_not_text_twice(sms_rt: Runtime, twilio: TwilioServer) -> None:
    phone = random_cn_mobile()
    sms_id = await queue(sms_rt, phone)
    results = await asyncio.gather(*(sms_events.send(services(sms_rt), sms_id) for _ in range(3)))
    assert sorted(results) == ["sent", "skipped", "skipped"]
    assert await sms_events.send(services(sms_rt), sms_id) == "skipped"
    assert len(twilio.to(phone)) == 1


async def test_outage_is_retried_from_the_outbox_and_a_refusal_is_final(
    sms_rt: Runtime, twilio: TwilioServer, clock: Any
) -> None:
    phone = random_cn_mobile()
    twilio.answer_status = 503
    try:
        sms_id = await queue(sms_rt, phone)
        assert await sms_events.send(services(sms_rt), sms_id) == "retry"
        [row] = await messages(sms_rt, phone)
        assert (row.status, row.attempts) == ("queued", 1) and "503" in (row.error or "")
        async with sms_rt.sessions() as s:
            retry = await s.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.payload["sms_id"].as_string() == sms_id)
                .order_by(OutboxMessage.available_at.desc())
                .limit(1)
            )
        assert retry is not None and retry.available_at > sms_rt.clock.now()
    finally:
        twilio.answer_status = 201
    clock.advance(seconds=5)
    await relay(sms_rt)
    [row] = await messages(sms_rt, phone)
    assert row.status == "sent" and row.attempts == 2 and row.error is None
    assert [t.sid for t in twilio.to(phone)] == [row.provider_message_id]

    refused = random_cn_mobile()
    twilio.answer_status = 400
    try:
        sms_id = await queue(sms_rt, refused)
        assert await sms_events.send(services(sms_rt), sms_id) == "failed"
    finally:
        twilio.answer_status = 201
    [row] = await messages(sms_rt, refused)
    assert row.status == "failed" and "400" in (row.error or "")
    assert await sms_events.send(services(sms_rt), sms_id) == "skipped"


async def test_a_send_cut_short_is_requeued_when_its_lease_lapses(
    sms_rt: Runtime, twilio: TwilioServer, clock: Any
) -> None:
    phone = random_cn_mobile()
    sms_id = await queue(sms_rt, phone)
    await relay(sms_rt)  # sent; now pretend the worker died before recording it
    async with sms_rt.sessions() as s, s.begin():
        [row] = await messages(sms_rt, phone)
        row = await s.get_one(type(row), sms_id)
        row.status, row.provider_message_id = "sending", None
        row.lease_until = sms_rt.clock.now() + timedelta(seconds=30)
    assert await requeue_stale(sms_rt.sessions, sms_rt.clock.now()) == 0  # lease still held
    assert await sms_events.send(services(sms_rt), sms_id) == "skipped"
    clock.advance(seconds=LEASE_SECONDS)
    assert await requeue_stale(sms_rt.sessions, sms_rt.clock.now()) >= 1
    await relay(sms_rt)
    [row] = await messages(sms_rt, phone)
    # At-least-once: the customer got it twice (documented in core/sms_delivery.py).
    assert row.status == "sent" and len(twilio.to(phone)) == 2


async def test_status_callbacks_only_move_forward(
    sms_rt: Runtime, twilio: TwilioServer, sms_client: Any
) -> None:
    phone = random_cn_mobile()
    await queue(sms_rt, phone)
    await relay(sms_rt)
    [text] = twilio.to(phone)
    for status in ("queued", "sent", "undelivered", "delivered", "sent"):
        r = await post_status(sms_client, twilio.auth_token, text.sid, status)
        assert r.status_code == 204
    assert [m.status for m in await messages(sms_rt, phone)] == ["undelivered"]
    r = await post_status(sms_client, twilio.auth_token, "SM" + "f" * 32, "delivered")
    assert r.status_code == 204  # not ours: acknowledged, nothing changes
    r = await sms_client.post(
        "/v1/webhooks/sms/status", data={"MessageSid": text.sid, "MessageStatus": "failed"}
    )
    assert r.status_code == 403
    assert [m.status for m in await messages(sms_rt, phone)] == ["undelivered"]


async def reply(client: Any, token: str, phone: str, body: str, sid: str) -> Any:
    params = {"From": phone, "To": "+8610086", "Body": body, "MessageSid": sid}
    return await client.post(
        "/v1/webhooks/sms", data=params, headers=signed(token, "/v1/webhooks/sms", params)
    )


async def resolved(client: Any, rt: Runtime, me: Any, agent: Any) -> str:
    body = {"category": "service", "subject": "Late tickets", "description": "票还没到"}
    r = await client.post("/v1/tickets", json=body, headers=me.headers)
    assert r.status_code == 201, r.text
    t = r.json()
    url = f"/v1/tickets/{t['id']}/transitions"
    if t["status"] == "new":
        assert (await client.post(url, json={"to": "open"}, headers=agent.headers)).is_success
    r = await client.post(url, json={"to": "resolved"}, headers=agent.headers)
    assert r.status_code == 200, r.text
    return str(t["id"])


async def scores(rt: Runtime, *ticket_ids: str) -> list[int | None]:
    async with rt.sessions() as s:
        rows = {t.id: t.satisfaction for t in await s.scalars(select(Ticket))}
        return [rows[i] for i in ticket_ids]


async def test_a_retried_survey_reply_scores_once(
    sms_rt: Runtime, twilio: TwilioServer, sms_client: Any
) -> None:
    me, agent = await make_customer(sms_rt, locale="en"), await make_agent(sms_rt)
    older = await resolved(sms_client, sms_rt, me, agent)
    newer = await resolved(sms_client, sms_rt, me, agent)
    sid = "SM" + uuid.uuid4().hex
    first = await reply(sms_client, twilio.auth_token, me.phone, "5", sid)
    assert first.status_code == 200 and "Thank you" in first.text
    assert await scores(sms_rt, older, newer) == [None, 5]
    # The gateway retries the same message: the same TwiML, and the older ticket stays unscored.
    again = await reply(sms_client, twilio.auth_token, me.phone, "5", sid)
    assert (again.status_code, again.text) == (200, first.text)
    assert await scores(sms_rt, older, newer) == [None, 5]
    # Two copies of another message at once: one scores, both get its reply.
    sid = "SM" + uuid.uuid4().hex
    both = await asyncio.gather(
        *(reply(sms_client, twilio.auth_token, me.phone, "3", sid) for _ in range(2))
    )
    assert [r.status_code for r in both] == [200, 200] and both[0].text == both[1].text
    assert await scores(sms_rt, older, newer) == [3, 5]


async def test_concurrent_copies_wait_on_the_key_and_answer_once(sms_rt: Runtime) -> None:
    """On PostgreSQL the second INSERT of the same MessageSid waits for the first transaction,
    then fails on the primary key and returns the reply the first committed."""
    sid = "SM" + uuid.uuid4().hex
    calls: list[int] = []
    first_inside = asyncio.Event()

    async def answer(session: Any) -> str:
        calls.append(1)
        first_inside.set()
        await asyncio.sleep(0.3)  # hold the transaction open while the copy arrives
        return f"reply {len(calls)}"

    async def copy() -> tuple[str, bool]:
        await first_inside.wait()
        return await answer_once(sms_rt.sessions, sid, None, sms_rt.clock.now(), answer)

    results = await asyncio.gather(
        answer_once(sms_rt.sessions, sid, None, sms_rt.clock.now(), answer), copy()
    )
    assert results == [("reply 1", True), ("reply 1", False)] and calls == [1]
    async with sms_rt.sessions() as s:
        stored = await s.get(SmsInbound, sid)
    assert stored is not None and stored.reply == "reply 1"


async def test_a_late_accept_after_the_sweep_is_still_recorded_once(
    sms_rt: Runtime, clock: Any
) -> None:
    """The provider answers after our lease lapsed and the sweep requeued the text: the
    accept is recorded, and the requeued job then finds it sent instead of texting again."""
    phone = random_cn_mobile()
    sms_id = await queue(sms_rt, phone)
    calls: list[str] = []

    class SlowProvider:
        is_sink = False

        async def deliver(self, to: str, body: str) -> str:
            calls.append(to)
            clock.advance(seconds=LEASE_SECONDS + 1)
            assert await requeue_stale(sms_rt.sessions, clock.now()) >= 1
            return f"SM{len(calls)}-{sms_id}"

    provider = SlowProvider()
    assert await deliver(sms_rt.sessions, provider, sms_rt.clock, sms_id) == "sent"
    [row] = await messages(sms_rt, phone)
    assert (row.status, row.provider_message_id) == ("sent", f"SM1-{sms_id}")
    assert await deliver(sms_rt.sessions, provider, sms_rt.clock, sms_id) == "skipped"
    assert calls == [phone]
