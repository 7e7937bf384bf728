"""The IVR's hand-off on the agent's screen: the live call of the caller on the record (menu
path and queue in words), the "verified by keypad" badge, and answering the call from the
console, which hands the keypad verification to the agent (ticketing.answer_call) so booking
for the caller needs no PIN. Kept apart from caller.py (the customer 360): it adds one read
to the screen pop only, never to a plain visit of a record.

A keypad verification shows only on the record of the customer it verified, of the call from
that customer's number, while it is good (its `expires_at`), and only to the agent who may
use it (nobody answered yet, or this agent did)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, post
from litestar.channels import ChannelsPlugin
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

import auth
import ticketing
from web.access import MeDep
from web.console.tickets import names
from web.live import plugin_publisher, tell_call
from web.pages import page
from web.ports import PortsDep, SessionDep

Req = Request[Any, Any, Any]
VERIFIED = "verified"  # the session key of web/console/calls.py (customer id -> check)
KEYPAD = "ivr"  # the channel of a verification typed on the keypad (auth/keypad.py)


@dataclass(frozen=True)
class Handoff:
    """What the caller panel shows of the call the IVR handed over."""

    call: ticketing.Call
    keypad_until: datetime | None  # the keypad verification this agent may use, while good
    wait_seconds: int | None
    answered_by: str | None  # display name of the agent who answered
    mine: bool  # answered by the agent looking

    @property
    def steps(self) -> list[str]:
        """The menu path as message ids (web/words.py translates them): never a digit."""
        return [STEP_WORDS.get(label, "another step") for label in self.call.menu_path]

    @property
    def queue(self) -> str | None:
        return QUEUE_WORDS.get(self.call.queue or "")


def _(message: str) -> str:  # marks the words for extraction; translated in the template
    return message


STEP_WORDS = {
    "lang:zh": _("chose Chinese"),
    "lang:en": _("chose English"),
    "1": _("order status"),
    "2": _("pay an order"),
    "3": _("resend the e-ticket"),
    "4": _("open complaints"),
    "0": _("asked for an agent"),
    "pin:ok": _("PIN right"),
    "pin:wrong": _("PIN wrong"),
    "pin:locked": _("PIN locked"),
    "pay:offered": _("heard the amount due"),
    "pay:back": _("did not pay"),
    "pay:insufficient-credit": _("not enough credit"),
    "pay:already-paid": _("already paid"),
    "pay:not-payable": _("order not payable"),
    "done:order-status": _("heard the order status"),
    "done:no-unpaid": _("no unpaid order"),
    "done:paid": _("paid from the phone account"),
    "done:no-eticket": _("no e-ticket to resend"),
    "done:eticket-resent": _("e-ticket texted again"),
    "done:complaints": _("heard the complaints"),
    "silent": _("pressed no key"),
    "queue:billing": _("to the billing queue"),
    "queue:delivery": _("to the delivery queue"),
    "queue:general": _("to the general queue"),
}
QUEUE_WORDS = {
    "billing": _("Billing queue"),
    "delivery": _("Delivery queue"),
    "general": _("General queue"),
}
_("another step")


def keypad_until(view: ticketing.CallView, customer_id: str, me_id: str, now: datetime) -> Any:
    """Until when the call's keypad verification vouches for this customer to this agent;
    None for another customer's, an expired one, or one another agent took with the call."""
    v, call = view.verification, view.call
    if v is None or not view.verified_by_keypad:
        return None
    if v.customer_id != customer_id or call.customer_id != customer_id:
        return None
    if v.agent_id not in (None, me_id) or v.expires_at <= now:
        return None
    return v.expires_at


async def live_call(
    session: AsyncSession, *, call_sid: str = "", phone: str = ""
) -> ticketing.CallView | None:
    return await ticketing.active_call(session, call_sid=call_sid[:64] or None, phone=phone or None)


async def handoff_for(
    session: AsyncSession,
    customer: auth.Customer,
    me_id: str,
    now: datetime,
    *,
    call_sid: str = "",
) -> Handoff | None:
    """The caller's live call (this CallSid, else the newest from their number), if it is
    theirs: a CallSid of another number's call shows nothing here."""
    view = await live_call(session, call_sid=call_sid, phone="" if call_sid else customer.phone)
    if view is None:
        return None
    call = view.call
    if call.from_phone != customer.phone and call.customer_id != customer.id:
        return None
    named = await names(session, {call.agent_id} if call.agent_id else set())
    return Handoff(
        call=call,
        keypad_until=keypad_until(view, customer.id, me_id, now),
        wait_seconds=view.wait_seconds(now),
        answered_by=named.get(call.agent_id or ""),
        mine=call.agent_id == me_id,
    )


def keypad_checked(request: Req, customer_id: str) -> bool:
    """The session's verification of this caller came from the keypad (the badge says so)."""
    found = (request.session.get(VERIFIED) or {}).get(customer_id) or {}
    return found.get("channel") == KEYPAD if isinstance(found, dict) else False


@post("/console/calls/{call_sid:str}/answer", include_in_schema=False)
async def answer(
    request: Req, services: PortsDep, session: SessionDep, me: MeDep, call_sid: FromPath[str]
) -> Any:
    """The agent takes the waiting call: recorded as answering (what `POST /v1/calls/{sid}/
    answer` does), and a good keypad verification becomes this session's check of the caller,
    so the booking form asks no PIN. The wallboard hears of it after the commit."""
    now = services.runtime.clock.now()
    before = await ticketing.active_call(session, call_sid=call_sid[:64])
    good = (
        keypad_until(before, before.call.customer_id or "", me.id, now)
        if before is not None and before.call.customer_id
        else None
    )
    call = await ticketing.answer_call(session, call_sid[:64], me.id, now)
    view = await ticketing.call_view(session, call)
    await session.commit()
    await tell_call(
        plugin_publisher(request.app.plugins.get(ChannelsPlugin)),
        services.runtime.settings,
        call.call_sid,
        "answered",
    )
    customer_id = call.customer_id or ""
    verified_until = None
    if good is not None and view.verification is not None and customer_id:
        v = view.verification
        checked = dict(request.session.get(VERIFIED) or {})
        checked[customer_id] = {
            "id": v.id,
            "until": v.expires_at.isoformat(),
            "channel": KEYPAD,
        }
        request.session[VERIFIED] = checked
        verified_until = v.expires_at
    customer = await auth.get_customer(session, customer_id) if customer_id else None
    handoff = (
        await handoff_for(session, customer, me.id, now, call_sid=call.call_sid)
        if customer
        else None
    )
    return page(
        request,
        "console/partials/ivr_answered.html",
        handoff=handoff,
        customer=customer,
        verified_until=verified_until,
        by_keypad=verified_until is not None,
        now=now,
        error=None,
    )


ROUTES = [answer]
