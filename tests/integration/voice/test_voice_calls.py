"""Whole calls through the voice webhooks (docs/http-api.md, Voice), signed as the provider
signs them: order status after the PIN, paying by keypad, a wrong PIN counted by the login
throttle, a hang-up mid-menu, forged and unsigned requests, both languages, the hand-off to a
skill queue with the keypad verification, and one call's steps taken by two app instances."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import func, select

import auth
import commerce
import payments
from api.voice_demo import Caller, new_call_sid
from api.voice_state import CallStates
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, make_agent, make_customer

from .conftest import PUBLIC, caller, top_up, unpaid_order


async def call_record(client, agent: TestAgent, sid: str) -> dict:
    resp = await client.get(f"/v1/calls/{sid}", headers=agent.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_known_caller_hears_the_latest_order_status_after_the_pin(
    voice_client, runtime: Runtime, customer: TestCustomer, agent: TestAgent
) -> None:
    order = await unpaid_order(runtime, customer.id)
    c = caller(voice_client, customer.phone)
    said = await c.walk(["1", customer.pin + "#"])
    welcome, asked, told = said
    assert ("zh-CN", "您好，欢迎致电热线。") in welcome.says  # a known number: no language menu
    assert welcome.gather == f"{PUBLIC}/v1/voice/gather/menu"
    assert asked.gather == f"{PUBLIC}/v1/voice/gather/pin" and "服务密码" in asked.text
    spoken = " ".join(order.number)
    assert f"订单号 {spoken}" in told.text and "待支付" in told.text
    assert told.gather == f"{PUBLIC}/v1/voice/gather/menu"  # the menu again
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["verification"] == "verified" and record["customer_id"] == customer.id
    assert record["menu_path"] == ["1", "pin:ok", "done:order-status"]
    assert record["status"] == "menu"
    # the PIN is in no record: not the path, not the audit, not the state
    assert customer.pin not in str(record)


async def test_pays_an_unpaid_order_by_keypad(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    customer = await make_customer(runtime, locale="en")
    order = await unpaid_order(runtime, customer.id, price=12800)
    await top_up(runtime, customer.id, 50000)
    c = caller(voice_client, customer.phone)
    said = await c.walk(["2", customer.pin])
    states = CallStates.build(runtime)  # the same Redis keys as the apps'
    before_paying = await states.load(c.call_sid)
    said.append(await c.press(said[-1], "1"))
    assert said[0].says[0] == ("en-US", "Welcome to Hotline.")
    offer = said[2]
    assert offer.gather == f"{PUBLIC}/v1/voice/gather/pay"
    assert "comes to 133.00 yuan" in offer.text  # 128.00 + the 5.00 booking fee
    assert "is paid: 133.00 yuan" in said[3].text
    async with runtime.sessions() as s:
        assert (await commerce.get_order(s, order.id)).status in ("paid", "fulfilling", "fulfilled")
        rows = list(
            await s.scalars(select(payments.Payment).where(payments.Payment.order_id == order.id))
        )
        assert [(p.method, p.amount) for p in rows] == [("carrier_billing", 13300)]
        assert rows[0].request_key.endswith(f"ivr:{c.call_sid}:{order.id}")
        # every ledger transaction of this payment balances
        totals = (
            await s.execute(
                select(
                    payments.ledger.LedgerEntry.transaction_id,
                    func.sum(payments.ledger.LedgerEntry.amount),
                )
                .join(payments.ledger.LedgerTransaction)
                .where(payments.ledger.LedgerTransaction.order_id == order.id)
                .group_by(payments.ledger.LedgerEntry.transaction_id)
            )
        ).all()
        assert totals and all(total == 0 for _, total in totals)
    # the state saved after paying was lost and the provider retries the step: the payment's
    # key (CallSid + order) finds the first payment, nothing is charged twice
    await states.save(c.call_sid, before_paying)
    again = await c.step(f"{PUBLIC}/v1/voice/gather/pay", {"Digits": "1"})
    assert "is paid: 133.00 yuan" in again.text
    async with runtime.sessions() as s:
        n = await s.scalar(
            select(func.count())
            .select_from(payments.Payment)
            .where(payments.Payment.order_id == order.id)
        )
        assert n == 1
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["menu_path"][-3:] == ["2", "pin:ok", "pay:offered", "done:paid"][-3:]
    assert record["language"] == "en"


async def test_a_wrong_pin_is_asked_again_then_an_agent_takes_the_call(
    voice_client, runtime: Runtime, customer: TestCustomer, agent: TestAgent
) -> None:
    c = caller(voice_client, customer.phone)
    said = await c.walk(["4", "111111#", "222222#"])
    assert "密码不正确" in said[2].text and said[2].gather.endswith("/gather/pin")
    assert "转接人工" in said[3].text and said[3].enqueued == "general"
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["verification"] == "failed" and record["status"] == "waiting"
    assert record["menu_path"] == ["4", "pin:wrong", "pin:wrong", "queue:general"]
    async with runtime.sessions() as s:
        outcomes = list(
            await s.scalars(
                select(auth.AuditEvent.outcome).where(
                    auth.AuditEvent.subject == customer.phone, auth.AuditEvent.channel == "ivr"
                )
            )
        )
    assert outcomes == ["failure", "failure"]
    # the login throttle counted both misses: a web login now meets the same count
    gate = auth.build_throttle(runtime)
    fails_key = f"{gate.prefix}:{customer.phone}:fails"
    assert int(await runtime.redis.get(fails_key)) == 2


async def test_the_lock_of_every_login_refuses_the_keypad_too(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    customer = await make_customer(runtime)
    for pin in ("000001", "000002", "000003"):  # the web login's misses, over the same throttle
        r = await voice_client.post("/v1/auth/token", json={"phone": customer.phone, "pin": pin})
        assert r.status_code == 401
    async with runtime.sessions() as s, s.begin():  # the lock lives on the customer row too
        row = await auth.find_customer_by_phone(s, customer.phone)
        row.locked = True
    c = caller(voice_client, customer.phone)
    said = await c.walk(["1", customer.pin + "#"])  # the right PIN, but the number is locked
    assert "尝试次数过多" in said[2].text and said[2].enqueued == "delivery"
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["verification"] == "locked" and "pin:locked" in record["menu_path"]


async def test_hang_up_mid_menu_leaves_a_complete_record(
    voice_client, runtime: Runtime, customer: TestCustomer, agent: TestAgent
) -> None:
    c = caller(voice_client, customer.phone)
    await c.walk(["1"])  # asked for the PIN, then the caller hangs up
    assert await c.hang_up("completed", duration=17) == 204
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["status"] == "ended" and record["outcome"] == "hung_up_in_menu"
    assert record["provider_status"] == "completed" and record["duration_seconds"] == 17
    assert record["menu_path"] == ["1"] and record["verification"] == "none"
    assert record["started_at"] and record["ended_at"] and record["queue"] is None
    assert await c.hang_up("completed") == 204  # a repeated callback changes nothing
    assert (await call_record(voice_client, agent, c.call_sid))["ended_at"] == record["ended_at"]
    # the state is gone: a late Gather starts the menu over instead of going on
    late = await c.step(f"{PUBLIC}/v1/voice/gather/menu", {"Digits": "1"})
    assert late.gather.endswith("/gather/menu")


async def test_unsigned_and_forged_requests_are_refused(voice_client, customer) -> None:
    c = caller(voice_client, customer.phone)
    fields = {**c.fields}
    unsigned = await voice_client.post("/v1/voice/incoming", data=fields)
    assert unsigned.status_code == 403
    assert unsigned.headers["content-type"].startswith("application/problem+json")
    forged = Caller(
        voice_client, public_base=PUBLIC, auth_token="not-the-token", phone=customer.phone
    )
    assert (await forged.dial()).status == 403
    # a signature over other fields (a changed Digits) does not pass either
    good = c.signature("/v1/voice/gather/menu", {**fields, "Digits": "1"})
    tampered = await voice_client.post(
        "/v1/voice/gather/menu",
        data={**fields, "Digits": "2"},
        headers={"X-Twilio-Signature": good},
    )
    assert tampered.status_code == 403
    for path in ("/v1/voice/status", "/v1/voice/gather/pin"):
        assert (await voice_client.post(path, data=fields)).status_code == 403


async def test_a_nul_is_422_as_a_form_and_any_other_type_is_415(voice_client, customer) -> None:
    """The provider always posts a form; the routes parse the body as one whatever the header
    says, so a body of another type is refused unread (a NUL in it reached PostgreSQL)."""
    c = caller(voice_client, customer.phone, call_sid="CA\x00x")
    path, params = "/v1/voice/incoming", {**c.fields, "CallStatus": "ringing"}
    signed = {"X-Twilio-Signature": c.signature(path, params)}
    form = await voice_client.post(path, data=params, headers=signed)
    assert form.status_code == 422 and form.json()["errors"][0]["field"] == "CallSid", form.text
    for content_type in (None, "application/json"):
        headers = {**signed, **({"content-type": content_type} if content_type else {})}
        r = await voice_client.post(path, content=urlencode(params).encode(), headers=headers)
        assert r.status_code == 415, r.text
        assert r.headers["accept-post"] == "application/x-www-form-urlencoded"


async def test_unknown_number_chooses_a_language_and_english_prompts(
    voice_client, agent: TestAgent
) -> None:
    c = caller(voice_client, "+8613912345670")  # no account
    first = await c.dial()
    assert ("zh-CN", "中文服务请按1。") in first.says
    assert ("en-US", "For English, press 2.") in first.says
    menu = await c.press(first, "2")
    assert menu.says[0] == ("en-US", "Welcome to Hotline.") and "press 0" in menu.text
    told = await c.press(menu, "1")  # account data for a number without an account: an agent
    assert "found no account" in told.text and told.enqueued == "delivery"
    record = await call_record(voice_client, agent, c.call_sid)
    assert record["language"] == "en" and record["customer_id"] is None
    assert record["menu_path"] == ["lang:en", "1", "queue:delivery"]


async def test_chinese_menu_for_a_chinese_caller_and_silence(voice_client, customer) -> None:
    c = caller(voice_client, customer.phone)
    first = await c.dial()
    assert "人工服务请按0" in first.text and all(lang == "zh-CN" for lang, _ in first.says)
    quiet = await c.press(first, "")  # the Gather timed out: its Redirect
    assert "没有收到您的按键" in quiet.text and quiet.gather.endswith("/gather/menu")
    quiet = await c.press(quiet, "")
    last = await c.press(quiet, "")  # three silences: an agent
    assert last.enqueued == "general"


async def test_hand_off_carries_the_keypad_verification_to_the_answering_agent(
    voice_client, runtime: Runtime, customer: TestCustomer
) -> None:
    agent = await make_agent(runtime)
    supervisor = await make_agent(runtime, "supervisor")
    await unpaid_order(runtime, customer.id)
    c = caller(voice_client, customer.phone)
    said = await c.walk(["2", customer.pin, "*", "0"])
    assert said[-1].enqueued == "billing"
    pop = await voice_client.get(f"/v1/screen-pop?phone={customer.phone}", headers=agent.headers)
    assert pop.status_code == 200, pop.text
    body = pop.json()
    assert body["call_sid"] == c.call_sid and body["verified_by_keypad"] is True
    assert body["verification_detail"]["channel"] == "ivr"
    assert body["verification_detail"]["customer_id"] == customer.id
    assert body["menu_path"][-2:] == ["0", "queue:billing"]
    waiting = await voice_client.get(
        "/v1/calls?status=waiting&queue=billing", headers=agent.headers
    )
    assert c.call_sid in [x["call_sid"] for x in waiting.json()["items"]]
    stats = await voice_client.get("/v1/call-queues", headers=supervisor.headers)
    billing = next(q for q in stats.json()["items"] if q["queue"] == "billing")
    assert billing["waiting"] >= 1 and billing["threshold_seconds"] == 20
    answered = await voice_client.post(f"/v1/calls/{c.call_sid}/answer", headers=agent.headers)
    assert answered.status_code == 200 and answered.json()["agent_id"] == agent.id
    again = await voice_client.post(f"/v1/calls/{c.call_sid}/answer", headers=supervisor.headers)
    assert again.status_code == 409
    # the keypad verification is now this agent's: an order for the caller needs no PIN
    vid = answered.json()["verification_detail"]["id"]
    async with runtime.sessions() as s:
        await auth.check_verification(
            s, vid, customer_id=customer.id, agent_id=agent.id, now=runtime.clock.now()
        )
    wrap = await voice_client.post(
        f"/v1/calls/{c.call_sid}/wrap-up", json={"code": "billing-question"}, headers=agent.headers
    )
    assert wrap.status_code == 200 and wrap.json()["wrap_up_code"] == "billing-question"
    assert await c.hang_up("completed", duration=95) == 204
    done = await call_record(voice_client, agent, c.call_sid)
    assert done["outcome"] == "handled" and done["wait_seconds"] is not None
    stats = (await voice_client.get("/v1/call-queues", headers=supervisor.headers)).json()
    billing = next(q for q in stats["items"] if q["queue"] == "billing")
    assert billing["answered"] >= 1 and billing["service_level"] is not None


async def test_one_call_two_app_instances_share_the_state(
    voice_client, second_client, runtime: Runtime, customer: TestCustomer, agent: TestAgent
) -> None:
    sid = new_call_sid()
    a = caller(voice_client, customer.phone, call_sid=sid)
    b = caller(second_client, customer.phone, call_sid=sid)
    first = await a.dial()
    asked = await b.press(first, "1")  # the other process knows the call is in the menu
    assert asked.gather.endswith("/gather/pin")
    told = await a.press(asked, customer.pin)  # and the first knows the PIN is asked for 1
    assert "状态" in told.text
    record = await call_record(second_client, agent, sid)
    assert record["menu_path"] == ["1", "pin:ok", "done:order-status"]


async def test_keypad_misses_and_web_logins_share_one_budget(
    voice_client, runtime: Runtime, agent: TestAgent
) -> None:
    """HOTLINE_PIN_DELAY_AFTER (3) misses, two by keypad and one on the web: the next try on
    either door waits (429 on the web, an agent on the phone)."""
    customer = await make_customer(runtime)
    first = caller(voice_client, customer.phone)
    said = await first.walk(["1", "111111", "222222"])
    assert said[-1].enqueued == "delivery"
    web = await voice_client.post("/v1/auth/token", json={"phone": customer.phone, "pin": "333333"})
    assert web.status_code == 401
    web = await voice_client.post(
        "/v1/auth/token", json={"phone": customer.phone, "pin": customer.pin}
    )
    assert web.status_code == 429 and web.json()["type"].endswith("/throttled")
    second = caller(voice_client, customer.phone)
    said = await second.walk(["4", customer.pin])  # even the right PIN waits its delay
    assert "尝试次数过多" in said[-1].text and said[-1].enqueued == "general"
    record = await call_record(voice_client, agent, second.call_sid)
    assert record["verification"] == "locked"
