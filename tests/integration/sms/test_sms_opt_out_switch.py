"""The shop account's SMS opt-out switch and the SMS channel's STOP/START write one record
(core.sms `sms_opt_outs`), in-process on PostgreSQL through the app's pages and its signed
Twilio webhook: switched off, survey and marketing texts skip the number while codes still
go; switched on, they reach it again; a STOP texted in shows as off on the account page."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.composition import build_services
from core.runtime import Runtime
from tests.auth_fixtures import make_customer
from tests.integration.sms.channel import text
from tests.integration.sms.conftest import PUBLIC
from tests.twilio_server import TwilioServer

PIN = "274915"
Client = AsyncTestClient[Litestar]
SWITCH = re.compile(r'<input id="marketing"[^>]*>')


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def _switch_is_on(c: Client) -> bool:
    page = await c.get("/shop/account")
    assert page.status_code == 200, page.text[:300]
    [box] = SWITCH.findall(page.text)
    return "checked" in box


async def _switch(c: Client, on: bool) -> None:
    page = await c.get("/shop/account")
    data = {"_csrf": _csrf(page.text), **({"marketing": "on"} if on else {})}
    r = await c.post("/shop/account/sms", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/shop/account?saved=sms"


async def _unasked_texts_queued(rt: Runtime, phone: str) -> list[bool]:
    """Whether a survey, a marketing text and (always) a code would be queued for `phone`."""
    outbox = build_services(rt).sms
    async with rt.sessions() as s, s.begin():
        return [
            await outbox.send(s, phone, "Rate us 1-5", purpose=purpose) != ""
            for purpose in ("ticket.survey", "marketing", "otp")
        ]


async def test_the_switch_and_stop_start_are_one_record(
    sms_client: Client, sms_rt: Runtime, twilio: TwilioServer
) -> None:
    c = sms_client
    c.cookies.clear()
    follows, c.follow_redirects = c.follow_redirects, False
    try:
        me = await make_customer(sms_rt, locale="en", pin=PIN)
        form = await c.get("/shop/sign-in")
        data = {"_csrf": _csrf(form.text), "phone": me.phone, "pin": PIN}
        assert (await c.post("/shop/sign-in", data=data)).status_code == 303
        assert await _switch_is_on(c)
        assert await _unasked_texts_queued(sms_rt, me.phone) == [True, True, True]

        r = await c.post("/shop/account/sms", data={})  # no CSRF token: refused, nothing written
        assert r.status_code == 403
        assert await _switch_is_on(c)

        await _switch(c, on=False)
        assert not await _switch_is_on(c)
        assert await _unasked_texts_queued(sms_rt, me.phone) == [False, False, True]
        await _switch(c, on=False)  # saving "off" again changes nothing and does not fail

        await _switch(c, on=True)
        assert await _switch_is_on(c)
        assert await _unasked_texts_queued(sms_rt, me.phone) == [True, True, True]

        sms: Any = lambda body: text(c, twilio.auth_token, PUBLIC, me.phone, body)  # noqa: E731
        assert await sms("STOP") == "You will get no marketing texts. Text START to undo."
        assert not await _switch_is_on(c)
        assert await _unasked_texts_queued(sms_rt, me.phone) == [False, False, True]
        assert await sms("START") == "You are subscribed again."
        assert await _switch_is_on(c)
    finally:
        c.follow_redirects = follows
        c.cookies.clear()
