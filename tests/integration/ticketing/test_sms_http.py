"""Satisfaction by SMS end to end: resolving texts the survey in the customer's language; the
Twilio webhook (signatures computed by twilio's own RequestValidator) scores the reply and
answers TwiML; a wrong signature is 403 problem+json; delivery status is recorded."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from api import sms_events
from api.app import create_app
from api.composition import build_services
from core.clock import TravelClock
from core.settings import Settings
from core.sms import SmsInbound, SmsMessage
from tests.auth_fixtures import make_customer
from ticketing.models import Ticket

TOKEN = "twilio-test-auth-token-0123456789abcdef"
PUBLIC = "https://hotline.example.com"  # what Twilio signed, not the Host we are reached on
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def sms_client(
    settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    signed = dataclasses.replace(settings, twilio_auth_token=TOKEN, public_base_url=PUBLIC)
    app = create_app(signed, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


def sign(path: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC + path, params)}


async def send_sms(
    client: Any, phone: str, body: str, sid: str | None = None, **headers: str
) -> Any:
    """Each message its own MessageSid, as the gateway does (the same one is a retry)."""
    sid = sid or "SM" + uuid.uuid4().hex
    params = {"From": phone, "To": "+8610086", "Body": body, "MessageSid": sid}
    return await client.post(
        "/v1/webhooks/sms", data=params, headers=headers or sign("/v1/webhooks/sms", params)
    )


async def resolved_ticket(client: Any, who: Any, agent: Any) -> dict[str, Any]:
    body = {"category": "service", "subject": "Rude usher", "description": "门口的服务员很凶"}
    r = await client.post("/v1/tickets", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    t = r.json()
    url = f"/v1/tickets/{t['id']}/transitions"
    if t["status"] == "new":
        r = await client.post(url, json={"to": "open"}, headers=agent.headers)
        assert r.status_code == 200, r.text
    r = await client.post(url, json={"to": "resolved"}, headers=agent.headers)
    assert r.status_code == 200, r.text
    return dict(t)


async def surveys(tk_runtime: Any, phone: str) -> list[SmsMessage]:
    async with tk_runtime.sessions() as s:
        rows = await s.execute(
            select(SmsMessage).where(SmsMessage.to == phone, SmsMessage.purpose == "ticket.survey")
        )
        return list(rows.scalars())


async def scored(tk_runtime: Any, ticket_id: str) -> tuple[int | None, str | None]:
    async with tk_runtime.sessions() as s:
        t = await s.get(Ticket, ticket_id)
        assert t is not None
        return t.satisfaction, t.satisfaction_source


async def test_english_customer_scores_by_replying_5(
    client: Any, sms_client: Any, tk_runtime: Any, agent: Any
) -> None:
    me = await make_customer(tk_runtime, locale="en")
    t = await resolved_ticket(client, me, agent)
    sent = await surveys(tk_runtime, me.phone)
    assert len(sent) == 1 and t["number"] in sent[0].body and "Reply 1-5" in sent[0].body

    r = await send_sms(sms_client, me.phone, "hello?")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert "<Response><Message>Reply 1-5" in r.text
    assert await scored(tk_runtime, t["id"]) == (None, None)

    r = await send_sms(sms_client, me.phone, " 5 ")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert r.text.startswith("<?xml") and "Thank you" in r.text and t["number"] in r.text
    assert await scored(tk_runtime, t["id"]) == (5, "sms")

    # Queued with the resolution; the sms.send job hands it to the sink after the commit.
    assert sent[0].status == "queued" and sent[0].provider_message_id is None
    assert await sms_events.send(build_services(tk_runtime), sent[0].id) == "sent"
    [sent] = await surveys(tk_runtime, me.phone)
    assert sent.status == "sent" and sent.provider_message_id
    # Delivery status of the survey (signed too), found by the provider's message id.
    params = {"MessageSid": sent.provider_message_id, "MessageStatus": "delivered"}
    r = await sms_client.post(
        "/v1/webhooks/sms/status", data=params, headers=sign("/v1/webhooks/sms/status", params)
    )
    assert r.status_code == 204, r.text
    assert [m.status for m in await surveys(tk_runtime, me.phone)] == ["delivered"]


async def test_chinese_reply_naming_the_ticket_number(
    client: Any, sms_client: Any, tk_runtime: Any, agent: Any
) -> None:
    me = await make_customer(tk_runtime, locale="zh")
    older = await resolved_ticket(client, me, agent)
    newer = await resolved_ticket(client, me, agent)
    assert all("请回复 1-5" in m.body for m in await surveys(tk_runtime, me.phone))
    r = await send_sms(sms_client, me.phone, f"{older['number'].replace('-', '')} 3")
    assert r.status_code == 200 and "感谢" in r.text and older["number"] in r.text
    assert await scored(tk_runtime, older["id"]) == (3, "sms")
    assert await scored(tk_runtime, newer["id"]) == (None, None)
    r = await send_sms(sms_client, me.phone, "4")  # the latest one still awaiting a score
    assert await scored(tk_runtime, newer["id"]) == (4, "sms")
    r = await send_sms(sms_client, me.phone, "9")
    # Nothing awaits a score any more: the SMS channel's own help (its commands).
    assert r.status_code == 200 and "Hotline短信" in r.text


async def test_bad_or_missing_signature_is_403_problem(
    sms_client: Any, client: Any, tk_runtime: Any, agent: Any
) -> None:
    me = await make_customer(tk_runtime, locale="en")
    t = await resolved_ticket(client, me, agent)
    params = {"From": me.phone, "To": "+8610086", "Body": "1", "MessageSid": "SM1"}
    forged = sign("/v1/webhooks/sms", params, token="not-the-token")
    for headers in (forged, {}, sign("/v1/webhooks/sms", {**params, "Body": "5"})):
        r = await sms_client.post("/v1/webhooks/sms", data=params, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM), r.text
    # Signed for the Host we are reached on instead of the public URL: refused too.
    wrong_url = RequestValidator(TOKEN).compute_signature(
        "http://10.0.0.7:8000/v1/webhooks/sms", params
    )
    r = await sms_client.post(
        "/v1/webhooks/sms", data=params, headers={"X-Twilio-Signature": wrong_url}
    )
    assert r.status_code == 403
    r = await sms_client.post("/v1/webhooks/sms/status", data={"MessageSid": "x"})
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    assert await scored(tk_runtime, t["id"]) == (None, None)
    # The main test app has no Twilio token configured: it refuses even a "signed" request.
    r = await client.post(
        "/v1/webhooks/sms",
        data=params,
        headers={
            "X-Twilio-Signature": RequestValidator("").compute_signature(
                "http://testserver.local/v1/webhooks/sms", params
            )
        },
    )
    assert r.status_code == 403


async def test_a_nul_in_a_signed_form_field_is_422_naming_it(
    sms_client: Any, tk_runtime: Any
) -> None:
    """PostgreSQL refuses 0x00 in text: a signed post carrying one is refused at the edge like
    a JSON string (api/input_guard.py), not a 500 from the insert, and nothing is stored."""
    me = await make_customer(tk_runtime, locale="en")
    sid = "SM" + uuid.uuid4().hex
    for path, params, field in (
        (
            "/v1/webhooks/sms",
            {"From": me.phone, "To": "+8610086", "Body": "5\x00", "MessageSid": sid},
            "Body",
        ),
        ("/v1/webhooks/sms", {"From": me.phone, "Body": "5", "MessageSid": "SM\x00"}, "MessageSid"),
        (
            "/v1/webhooks/sms/status",
            {"MessageSid": sid, "MessageStatus": "sent\x00"},
            "MessageStatus",
        ),
    ):
        r = await sms_client.post(path, data=params, headers=sign(path, params))
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert r.json()["errors"][0] == {
            "field": field,
            "message": "must not contain the NUL character (0x00)",
            "in": "body",
        }
    # A clean retry of the same message is answered normally.
    params = {"From": me.phone, "To": "+8610086", "Body": "hello", "MessageSid": sid}
    r = await sms_client.post(
        "/v1/webhooks/sms", data=params, headers=sign("/v1/webhooks/sms", params)
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("content_type", [None, "application/json", "text/plain"])
async def test_a_signed_form_sent_as_another_type_is_415(
    sms_client: Any, tk_runtime: Any, content_type: str | None
) -> None:
    """Twilio always posts application/x-www-form-urlencoded; the routes parse the body as a
    form whatever its header says, so any other type is refused before it is read, NUL or not
    (a NUL here reached PostgreSQL: a 500), and nothing is stored."""
    me = await make_customer(tk_runtime, locale="en")
    sid = "SM" + uuid.uuid4().hex
    headers = {"content-type": content_type} if content_type else {}
    for path, params in (
        (
            "/v1/webhooks/sms",
            {"From": me.phone, "To": "+8610086", "Body": "bad\x00", "MessageSid": sid},
        ),
        ("/v1/webhooks/sms", {"From": me.phone, "Body": "HELP", "MessageSid": sid + "\x00"}),
        ("/v1/webhooks/sms/status", {"MessageSid": "SMx\x00", "MessageStatus": "sent"}),
    ):
        r = await sms_client.post(
            path, content=urlencode(params).encode(), headers={**headers, **sign(path, params)}
        )
        assert r.status_code == 415 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert "application/x-www-form-urlencoded" in r.json()["detail"]
        assert r.headers["accept-post"] == "application/x-www-form-urlencoded"
    async with tk_runtime.sessions() as s:
        for row, by in ((SmsInbound, SmsInbound.from_phone), (SmsMessage, SmsMessage.from_phone)):
            assert await s.scalar(select(row).where(by == me.phone)) is None
