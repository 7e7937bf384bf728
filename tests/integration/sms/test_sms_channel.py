"""The SMS channel end to end on PostgreSQL, through the signed Twilio webhook (twilio's own
RequestValidator) of an app, with texts leaving through the Twilio stand-in: a booking by
SMS paid by carrier billing and fulfilled with the e-ticket SMS, a card pay link, a complaint
and a reply joining it, survey, Chinese and full-width input, the PIN throttled and never
stored, opt-out, a retried MessageSid, malformed and oversized bodies, pumping budgets."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy import text as sql

import commerce
from api.app import create_app
from auth import AuditEvent
from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings
from core.sms import SmsInbound, SmsMessage, SmsOptOut
from tests.auth_fixtures import make_agent, make_customer, random_cn_mobile
from tests.integration.sms.channel import (
    PATH,
    credit,
    make_offer,
    order_number,
    relay_all,
    sign,
    stored,
    text,
)
from tests.integration.sms.conftest import PUBLIC, post_status
from tests.twilio_server import TwilioServer
from ticketing.models import TicketEvent

PIN = "274915"


@pytest.fixture(scope="module")
def ch_settings(sms_settings: Settings) -> Settings:
    # A card gateway configured (the pay link itself calls no gateway), small budgets.
    return dataclasses.replace(
        sms_settings, stripe_api_key="sk_test_sms_channel", sms_replies_per_hour=12
    )


@pytest.fixture(scope="module")
async def ch(ch_settings: Settings, clock: TravelClock) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(ch_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


@pytest.fixture
def sms(ch: Any, twilio: TwilioServer) -> Any:
    """sms(phone, body, sid=None) -> the reply."""
    return partial(text, ch, twilio.auth_token, PUBLIC)


async def test_booking_paid_by_carrier_billing_and_fulfilled_with_the_eticket_sms(
    sms: Any, ch: Any, sms_rt: Runtime, twilio: TwilioServer
) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    await credit(sms_rt, me.id)
    offer = await make_offer(sms_rt, price=38000)

    reply = await sms(me.phone, f"BOOK {offer.code} 2")
    assert reply.startswith("Order ") and "held till" in reply, reply
    # Fee breakdown: 2 x 380 + booking fee 5 + e-ticket delivery 0.
    assert "760 + booking fee 5 + delivery 0 = 765 CNY" in reply, reply
    number = order_number(reply)

    reply = await sms(me.phone, f"status {number}")
    assert reply == f"Order {number}: awaiting payment, 765 CNY."
    reply = await sms(me.phone, f"PAY {number} {PIN}")
    assert reply == f"Order {number}: 765 CNY charged to your phone bill. Tickets follow by SMS."

    await relay_all(sms_rt)
    async with sms_rt.sessions() as s:
        order = (await commerce.list_orders(s, _principal(me.id), number=number)).items[0]
    assert order.status == "fulfilled" and order.channel == "sms"
    etickets = [m for m in await stored(sms_rt, me.phone) if m.purpose == "eticket"]
    assert len(etickets) == 1 and number in etickets[0].body
    assert etickets[0].order_id == order.id and etickets[0].segments == 1
    assert etickets[0].status == "sent" and etickets[0].provider_message_id
    assert [t.body for t in twilio.to(me.phone)] == [etickets[0].body]
    # The delivery-status webhook finds it by the provider's id.
    r = await post_status(ch, twilio.auth_token, etickets[0].provider_message_id, "delivered")
    assert r.status_code == 204
    assert [m.status for m in await stored(sms_rt, me.phone) if m.purpose == "eticket"] == [
        "delivered"
    ]

    assert await sms(me.phone, "TICKET") == f"Order {number}: e-tickets sent again."
    assert await sms(me.phone, f"PAY {number} {PIN}") == f"Order {number} is already paid."

    # Agents read the whole conversation on the customer's record, cursor-paged.
    agent = await make_agent(sms_rt)
    url = f"/v1/customers/{me.id}/messages"
    r = await ch.get(url, params={"limit": 5}, headers=agent.headers)
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["items"]) == 5 and first["next_cursor"]
    items, cursor = list(first["items"]), first["next_cursor"]
    while cursor:
        r = await ch.get(url, params={"limit": 5, "cursor": cursor}, headers=agent.headers)
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
    texts_in = [m for m in items if m["direction"] == "in"]
    assert [m["command"] for m in reversed(texts_in)] == [
        "BOOK", "STATUS", "PAY", "TICKET", "PAY"
    ]  # fmt: skip
    pay = next(m for m in texts_in if m["command"] == "PAY" and m["outcome"] != "already_paid")
    assert pay["body"] == f"PAY {number} ******" and pay["order_id"] == order.id
    assert pay["outcome"] == "payment_succeeded" and pay["segments"] == 1
    assert {m["purpose"] for m in items} >= {"sms.inbound", "sms.reply", "eticket"}
    assert all(m["segments"] >= 1 for m in items)
    assert not any(PIN in m["body"] for m in items)
    # A customer sees only their own record.
    other = await make_customer(sms_rt)
    assert (await ch.get(url, headers=other.headers)).status_code == 404
    assert (await ch.get(url, headers=me.headers)).status_code == 200


def _principal(customer_id: str) -> Any:
    from core.principal import Principal

    return Principal("customer", customer_id)


async def test_card_pay_link_by_sms_and_cancel_with_the_pin(sms: Any, sms_rt: Runtime) -> None:
    me = await make_customer(sms_rt, locale="zh", pin=PIN)
    offer = await make_offer(sms_rt, price=12000)
    reply = await sms(me.phone, f"订票，{offer.code}，1张 快递：上海市黄浦区1号")
    assert reply.startswith("订单") and "送票费15" in reply and "=140元" in reply, reply
    number = order_number(reply)
    assert await sms(me.phone, f"刷卡 {number}") == f"订单{number}的支付链接已短信发送。"
    links = [m for m in await stored(sms_rt, me.phone) if m.purpose == "pay_link"]
    assert len(links) == 1 and "/pay/" in links[0].body and links[0].status == "queued"
    assert links[0].order_id == await _order_id(sms_rt, me.id, number)

    assert "密码不正确" in await sms(me.phone, f"取消 {number} 111111")
    reply = await sms(me.phone, f"ＣＡＮＣＥＬ　{number}　{PIN}")
    assert reply == f"订单{number}已取消。", reply
    async with sms_rt.sessions() as s:
        order = (await commerce.list_orders(s, _principal(me.id), number=number)).items[0]
    assert order.status == "cancelled"
    assert "不能取消" in await sms(me.phone, f"取消 {number} {PIN}")


async def test_wrong_pin_is_counted_by_the_throttle_and_never_stored(
    sms: Any, sms_rt: Runtime, ch_settings: Settings
) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    await credit(sms_rt, me.id)
    offer = await make_offer(sms_rt)
    number = order_number(await sms(me.phone, f"BOOK {offer.code} 1"))
    wrong = "918273"
    for _ in range(ch_settings.pin_delay_after):
        assert (await sms(me.phone, f"PAY {number} {wrong}")).startswith("PIN not right")
    # The same throttle as every login: the next miss must wait.
    assert "try again in" in await sms(me.phone, f"PAY {number} {wrong}")
    async with sms_rt.sessions() as s:
        outcomes = list(
            await s.scalars(
                select(AuditEvent.outcome).where(
                    AuditEvent.subject == me.phone, AuditEvent.event == "sms_pin"
                )
            )
        )
        assert outcomes.count("failure") == ch_settings.pin_delay_after and "throttled" in outcomes
        # Neither PIN is anywhere in the stored texts, replies or the answered MessageSids.
        for pin in (wrong, PIN):
            for table, column in (("sms_messages", "body"), ("sms_inbound", "reply")):
                found = await s.scalar(
                    sql(f"SELECT count(*) FROM {table} WHERE {column} LIKE :p"),  # noqa: S608
                    {"p": f"%{pin}%"},
                )
                assert found == 0, (table, pin)
    order = [m for m in await stored(sms_rt, me.phone) if m.command == "PAY"]
    assert {m.outcome for m in order} == {"pin_wrong", "pin_throttled"}
    assert all(m.body == f"PAY {number} ******" for m in order if m.direction == "in")


async def test_complaint_becomes_a_ticket_and_a_reply_joins_it(
    sms: Any, ch: Any, sms_rt: Runtime
) -> None:
    me = await make_customer(sms_rt, locale="zh", pin=PIN)
    offer = await make_offer(sms_rt)
    number = order_number(await sms(me.phone, f"订票 {offer.code} 1"))
    reply = await sms(me.phone, "投诉：演出推迟了没人通知")
    assert reply.startswith("投诉已受理，工单号"), reply
    ticket_no = reply.split("工单号")[1][:11]
    agent = await make_agent(sms_rt, "agent", "supervisor")
    r = await ch.get("/v1/tickets", headers=me.headers)
    [ticket] = [t for t in r.json()["items"] if t["number"] == ticket_no]
    assert ticket["channel"] == "sms"
    r = await ch.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)
    assert r.json()["order_ids"] == [(await _order_id(sms_rt, me.id, number))]
    # Before an agent wrote to them, free text gets help, not a ticket comment.
    assert "Hotline短信" in await sms(me.phone, "喂？")
    r = await ch.post(
        f"/v1/tickets/{ticket['id']}/comments",
        json={"body": "您好，请问是哪一场演出？", "public": True},
        headers=agent.headers,
    )
    assert r.status_code in (200, 201), r.text
    # The agent's reply reached the customer by SMS (the ticket came by SMS).
    [texted] = [m for m in await stored(sms_rt, me.phone) if m.purpose == "ticket.reply"]
    assert texted.body.startswith(f"【Hotline】工单{ticket_no}客服回复：您好，请问是哪一场演出？")
    assert texted.ticket_id == ticket["id"] and texted.status == "queued"
    assert await sms(me.phone, "周六晚上那场") == f"已将您的回复加入工单{ticket_no}。"
    r = await ch.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)
    bodies = [c["body"] for c in r.json()["comments"]]
    assert bodies[-1] == "周六晚上那场"
    async with sms_rt.sessions() as s:  # the timeline says the reply came by SMS
        last = await s.scalar(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket["id"], TicketEvent.actor == f"customer:{me.id}")
            .order_by(TicketEvent.seq.desc())
            .limit(1)
        )
    assert last is not None and last.channel == "sms"


async def test_control_characters_in_a_complaint_are_dropped_not_refused(
    sms: Any, ch: Any, sms_rt: Runtime
) -> None:
    """A texter has no form to correct: the escapes go, the words make the ticket."""
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    reply = await sms(me.phone, "COMPLAIN \x1b[31mred\x07 seats\x01 were \x9b1mbroken")
    assert reply.startswith("Complaint received"), reply
    agent = await make_agent(sms_rt, "agent")
    [ticket] = (await ch.get("/v1/tickets", headers=me.headers)).json()["items"]
    view = (await ch.get(f"/v1/tickets/{ticket['id']}", headers=agent.headers)).json()
    assert view["subject"] == view["description"] == "red seats were broken"
    kept = [m.body for m in await stored(sms_rt, me.phone) if m.from_phone == me.phone]
    assert kept == ["COMPLAIN red seats were broken"]


async def _order_id(rt: Runtime, customer_id: str, number: str) -> str:
    async with rt.sessions() as s:
        return (await commerce.list_orders(s, _principal(customer_id), number=number)).items[0].id


async def test_survey_reply_scores_the_resolved_ticket(sms: Any, ch: Any, sms_rt: Runtime) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    agent = await make_agent(sms_rt, "agent", "supervisor")
    reply = await sms(me.phone, "COMPLAIN the usher was rude")
    assert reply.startswith("Complaint received: ticket ")
    ticket_no = reply.split("ticket ")[1][:11]
    r = await ch.get("/v1/tickets", headers=me.headers)
    [t] = [t for t in r.json()["items"] if t["number"] == ticket_no]
    url = f"/v1/tickets/{t['id']}/transitions"
    if t["status"] == "new":
        assert (await ch.post(url, json={"to": "open"}, headers=agent.headers)).status_code == 200
    assert (await ch.post(url, json={"to": "resolved"}, headers=agent.headers)).status_code == 200
    survey = [m for m in await stored(sms_rt, me.phone) if m.purpose == "ticket.survey"]
    assert len(survey) == 1 and survey[0].body.endswith("Reply STOP to opt out")
    reply = await sms(me.phone, "４")  # full-width
    assert reply == f"Thank you for your rating (4/5) of ticket {ticket_no}!"
    r = await ch.get(f"/v1/tickets/{t['id']}", headers=agent.headers)
    assert r.json()["satisfaction"] == 4


async def test_chinese_full_width_and_mixed_input(sms: Any, sms_rt: Runtime) -> None:
    me = await make_customer(sms_rt, locale="zh", pin=PIN)
    offer = await make_offer(sms_rt, price=9900)
    assert (await sms(me.phone, "帮助")).startswith("Hotline短信")
    assert (await sms(me.phone, "ｈｅｌｐ")).startswith("Hotline短信")  # her language: zh
    reply = await sms(me.phone, f"ＢＯＯＫ　{offer.code.lower()}　２")
    assert reply.startswith("订单") and "票198+订票费5+送票费0=203元" in reply, reply
    reply = await sms(me.phone, f"详情{offer.code}")
    assert reply.startswith(f"{offer.code} 周杰伦演唱会，上海体育场") and "99元" in reply
    assert "待支付" in await sms(me.phone, "状态")
    assert "格式：订票" in await sms(me.phone, "订票")
    assert "没有代码为 NOPE1 的项目" in await sms(me.phone, "订票 NOPE1 1")
    reply = await sms(me.phone, "查询")
    assert "订票回复" in reply
    # A new number without a stored language is answered in the language of its text.
    en = await make_customer(sms_rt, locale="en", pin=PIN)
    assert (await sms(en.phone, "状态")) == "You have no orders yet."


async def test_opt_out_stops_marketing_texts_but_not_replies(sms: Any, sms_rt: Runtime) -> None:
    me = await make_customer(sms_rt, locale="zh", pin=PIN)
    assert await sms(me.phone, "退订") == "已退订营销短信。回复“订阅”恢复。"
    async with sms_rt.sessions() as s:
        assert await s.get(SmsOptOut, me.phone) is not None
    from api.composition import build_services

    outbox = build_services(sms_rt).sms
    async with sms_rt.sessions() as s, s.begin():
        assert await outbox.send(s, me.phone, "双十二大促！", purpose="marketing") == ""
        assert await outbox.send(s, me.phone, "code 1", purpose="otp") != ""
    assert "Hotline短信" in await sms(me.phone, "HELP")  # replies still come
    assert await sms(me.phone, "TD") == "已退订营销短信。回复“订阅”恢复。"
    assert await sms(me.phone, "START") == "已恢复订阅。"
    async with sms_rt.sessions() as s, s.begin():
        assert await s.get(SmsOptOut, me.phone) is None
        assert await outbox.send(s, me.phone, "双十二大促！", purpose="marketing") != ""
    [promo] = [m for m in await stored(sms_rt, me.phone) if m.purpose == "marketing"]
    assert promo.body == "双十二大促！拒收请回复TD"


async def test_a_retried_message_sid_gets_the_same_reply_and_books_once(
    sms: Any, sms_rt: Runtime
) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    offer = await make_offer(sms_rt, capacity=5)
    sid = "SM" + uuid.uuid4().hex
    first = await sms(me.phone, f"BOOK {offer.code} 2", sid=sid)
    again = await sms(me.phone, f"BOOK {offer.code} 2", sid=sid)
    assert first == again and first.startswith("Order ")
    async with sms_rt.sessions() as s:
        orders = await commerce.list_orders(s, _principal(me.id))
        assert len(orders.items) == 1
        assert (await commerce.get_offer(s, offer.id)).available == 3
        assert await s.get(SmsInbound, sid) is not None
    assert len([m for m in await stored(sms_rt, me.phone) if m.direction == "in"]) == 1


async def test_malformed_oversized_and_unsigned_posts(
    ch: Any, sms: Any, sms_rt: Runtime, twilio: TwilioServer
) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    token = twilio.auth_token
    # Unsigned or signed with another token: 403 problem+json, nothing stored.
    params = {"From": me.phone, "Body": "HELP", "MessageSid": "SM" + uuid.uuid4().hex}
    r = await ch.post(PATH, data=params)
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem")
    r = await ch.post(PATH, data=params, headers=sign("other", PUBLIC, PATH, params))
    assert r.status_code == 403
    # Missing fields: answered (no error page), a sender we cannot read gets silence.
    for form in ({}, {"Body": "HELP"}, {"From": "not a phone", "Body": "HELP"}):
        r = await ch.post(PATH, data=form, headers=sign(token, PUBLIC, PATH, form))
        assert r.status_code == 200 and "<Message>" not in r.text, r.text
    form = {"From": me.phone}
    r = await ch.post(PATH, data=form, headers=sign(token, PUBLIC, PATH, form))
    assert r.status_code == 200 and "Hotline SMS:" in r.text
    # The gateway's segment count is a note: an impossible one (the column is 32-bit) is none.
    for count in ("99999999999999999999", "-3", "0", "2.5"):
        for body in ("STATUS", "COMPLAIN noisy line"):  # the read-only path and the plain one
            form = {"From": me.phone, "Body": body, "NumSegments": count,
                    "MessageSid": "SM" + uuid.uuid4().hex}  # fmt: skip
            r = await ch.post(PATH, data=form, headers=sign(token, PUBLIC, PATH, form))
            assert r.status_code == 200 and "<Message>" in r.text, (count, r.text)
    # Oversized: read from its first 1600 characters, answered, stored cut.
    reply = await sms(me.phone, "COMPLAIN " + "很差" * 20_000)
    assert reply.startswith("Complaint received"), reply
    big = [m for m in await stored(sms_rt, me.phone) if m.command == "COMPLAIN"]
    assert all(len(m.body) <= 1600 for m in big)
    # A body that is not a form at all is 4xx, not 500.
    raw = b"\xff\xfe<xml>"
    r = await ch.post(PATH, content=raw, headers={"content-type": "text/xml"})
    assert 400 <= r.status_code < 500
    # Markup in a text never breaks the TwiML: the reply is escaped XML.
    reply = await sms(me.phone, "COMPLAIN <b>x</b> & </Message>")
    assert reply.startswith("Complaint received")


async def test_pumping_budgets(
    sms: Any, sms_rt: Runtime, ch_settings: Settings, clock: TravelClock
) -> None:
    # An unknown number: one enrollment hint, then silence.
    stranger = random_cn_mobile()
    assert (await sms(stranger, "HELP")).startswith("Hotline: this number is not registered")
    assert await sms(stranger, "HELP") == ""
    assert await sms(stranger, "BOOK X1 1") == ""
    # A flood from one number: the budget's replies, one notice, then silence for the hour.
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    budget = ch_settings.sms_replies_per_hour
    replies = [await sms(me.phone, "STATUS") for _ in range(budget + 3)]
    assert all(r == "You have no orders yet." for r in replies[:budget])
    assert replies[budget].startswith("Hotline: too many messages")
    assert replies[budget + 1 :] == ["", ""]
    rows = [m for m in await stored(sms_rt, me.phone) if m.direction == "in"]
    assert len(rows) == budget + 3 and rows[-1].outcome == "ignored_flood"
    # An hour later the number is answered again.
    clock.advance(seconds=3700)
    assert await sms(me.phone, "STATUS") == "You have no orders yet."


async def test_count_of_stored_rows_per_text(sms: Any, sms_rt: Runtime) -> None:
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    await sms(me.phone, "HELP")
    async with sms_rt.sessions() as s:
        n = await s.scalar(
            select(func.count()).select_from(SmsInbound).where(SmsInbound.from_phone == me.phone)
        )
    rows = await stored(sms_rt, me.phone)
    assert n == 1 and [(m.direction, m.purpose, m.status) for m in rows] == [
        ("in", "sms.inbound", "received"),
        ("out", "sms.reply", "replied"),
    ]


async def test_unknown_numbers_share_one_hourly_budget(
    sms: Any, sms_rt: Runtime, ch_settings: Settings
) -> None:
    """Enrollment hints to all unknown numbers together stop at the hourly budget."""
    from api.sms_channel import budget

    first, second = random_cn_mobile(), random_cn_mobile()
    async with sms_rt.sessions() as s:
        now = sms_rt.clock.now()
        sent = await s.scalar(
            select(func.count()).where(
                SmsMessage.purpose == budget.HINT, SmsMessage.created_at > now - budget.HOUR
            )
        )
        tight = dataclasses.replace(ch_settings, sms_unknown_replies_per_hour=sent + 1)
        assert await budget.unknown_number(s, tight, first, now) == "hint"
    assert (await sms(first, "HELP")).startswith("Hotline: this number is not registered")
    async with sms_rt.sessions() as s:
        assert await budget.unknown_number(s, tight, second, sms_rt.clock.now()) == "ignore"


async def test_the_sender_lock_holds_a_second_process_until_the_first_commits(
    sms_rt: Runtime,
) -> None:
    """Across processes (two sessions here) one number's handling transactions do not
    overlap: the second waits on the advisory lock, then sees what the first committed."""
    import asyncio

    from api.sms_channel.ordering import lock_and_read
    from core.db import is_postgres

    phone, sid = random_cn_mobile(), "SM" + uuid.uuid4().hex
    now = sms_rt.clock.now()
    async with sms_rt.sessions() as first, first.begin():
        assert is_postgres(first)
        opened = await lock_and_read(first, phone, sid, phone, now)
        assert opened.stored_reply is None and opened.customer_id is None

        async def second() -> str | None:
            async with sms_rt.sessions() as other, other.begin():
                return (await lock_and_read(other, phone, sid, phone, now)).stored_reply

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        first.add(SmsInbound(message_sid=sid, from_phone=phone, reply="first", received_at=now))
    assert await asyncio.wait_for(waiting, 5) == "first"
