"""Texts that fail for good end in the dead-letter list (the one an operator reads and
replays): refused by the provider at once, or still failing after the backoff's attempts;
a replay queues the text again and the relay sends it."""

from __future__ import annotations

from typing import Any

from api import sms_events
from core.runtime import Runtime
from core.sms_delivery import MAX_ATTEMPTS
from tests.auth_fixtures import make_agent, random_cn_mobile
from tests.integration.sms.conftest import messages, relay, services
from tests.twilio_server import TwilioServer


async def queue(rt: Runtime, phone: str, body: str = "Hotline: your order") -> str:
    async with rt.sessions() as s, s.begin():
        return await services(rt).sms.send(s, phone, body, purpose="test")


async def dead_letters(client: Any, admin: Any) -> list[dict[str, Any]]:
    r = await client.get("/v1/admin/dead-letters", headers=admin.headers)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_refused_and_exhausted_texts_are_dead_lettered_and_replayed(
    sms_client: Any, sms_rt: Runtime, twilio: TwilioServer, clock: Any
) -> None:
    admin = await make_agent(sms_rt, "admin")
    refused, flaky = random_cn_mobile(), random_cn_mobile()
    twilio.answer_status = 400
    try:
        refused_id = await queue(sms_rt, refused)
        assert await sms_events.send(services(sms_rt), refused_id) == "failed"
        twilio.answer_status = 503
        flaky_id = await queue(sms_rt, flaky)
        outcomes = []
        for _ in range(MAX_ATTEMPTS):
            outcomes.append(await sms_events.send(services(sms_rt), flaky_id))
            clock.advance(seconds=400)  # past the longest backoff
        assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    finally:
        twilio.answer_status = 201
    listed = {d["sms_id"]: d for d in await dead_letters(sms_client, admin) if d["sms_id"]}
    assert listed[refused_id]["reason"] == "sms_failed" and listed[refused_id]["attempts"] == 1
    assert "400" in listed[refused_id]["last_error"]
    assert listed[flaky_id]["attempts"] == MAX_ATTEMPTS and "503" in listed[flaky_id]["last_error"]

    for sms_id in (refused_id, flaky_id):
        r = await sms_client.post(
            f"/v1/admin/dead-letters/{listed[sms_id]['id']}/replay", headers=admin.headers
        )
        assert r.status_code == 200, r.text
        again = await sms_client.post(
            f"/v1/admin/dead-letters/{listed[sms_id]['id']}/replay", headers=admin.headers
        )
        assert again.status_code == 409
    await relay(sms_rt)
    for phone in (refused, flaky):
        [row] = await messages(sms_rt, phone)
        assert row.status == "sent" and row.provider_message_id
        assert [t.sid for t in twilio.to(phone)] == [row.provider_message_id]
