"""The IVR menu (docs/http-api.md, Voice): one function per webhook step, each answering TwiML
built with twilio's VoiceResponse. It lives in the entry point because option 2 moves money
(payments) and option 3 resends an e-ticket (fulfillment), rooms ticketing may not reach; the
call's record and skill queues are ticketing's (ticketing/calls.py), the PIN check auth's.

Steps: incoming -> language (unknown numbers only; a known caller hears their own language)
-> menu: 1 latest order's status, 2 pay an unpaid order from the phone account, 3 resend the
e-ticket, 4 open complaints, 0 an agent. 1-4 read the account, so they ask the PIN first
(auth.verify_by_keypad: the throttle and lock of every login); a wrong PIN is asked once more,
then the caller goes to an agent. Digits of a PIN are never logged, kept in the call's state or
written to its record: the path says `pin:ok`, `pin:wrong` or `pin:locked`.
"""

from __future__ import annotations

import auth
import ticketing
from api.voice_call import GATHER_PATH, Call, LeftIvr, hand_off, queued_in
from api.voice_prompts import SAY_LANGUAGE
from api.voice_services import pay, serve
from api.voice_twiml import Plan
from core.errors import Throttled, ValidationFailed

__all__ = ["GATHER_PATH", "STEPS", "Call", "LeftIvr", "incoming", "on_gather"]

STEPS = ("language", "menu", "pin", "pay")
SERVICES = ("1", "2", "3", "4")  # menu choices that read the account (PIN first)
PIN_TRIES = 2  # the PIN is asked once more after a miss, then an agent takes the call
SILENCES = 3  # Gathers in a row without a key before an agent takes the call


async def incoming(c: Call) -> Plan:
    """A new call (or one whose state expired): open its record, then language or menu."""
    pool = c.driver_pool
    account: tuple[str, str] | None = None
    if c.phone and pool is not None:
        phone = c.phone
        account = await pool.read(lambda conn: auth.caller_account_on(conn, phone))
    elif c.phone:
        customer = await auth.find_customer_by_phone(c.session, c.phone)
        account = (customer.id, customer.locale) if customer else None
    c.state.customer_id = account[0] if account else None
    c.state.language = account[1] if account and account[1] in SAY_LANGUAGE else ""
    record = {
        "call_sid": c.call_sid,
        "from_phone": c.phone,
        "to_phone": c.to,
        "customer_id": c.state.customer_id,
        "language": c.lang,
        "now": c.services.runtime.clock.now(),
    }
    if pool is not None:
        async with pool.connection() as conn:
            opened = await ticketing.open_call_on(conn, **record)  # type: ignore[arg-type]
    else:
        opened = await ticketing.open_call(c.session, **record)  # type: ignore[arg-type]
    if not opened:  # a repeated first webhook, or a step whose state was lost
        await _check_still_in_menu(c)
    r = Plan()
    if not c.state.language:
        c.gather(r, "language", "choose_language")
        return r
    c.say(r, "welcome")
    c.gather(r, "menu", "menu")
    return r


async def _check_still_in_menu(c: Call) -> None:
    """The record outlives the state (Redis' TTL, a flush): a call it says was queued has
    left the menu even when its state is gone."""
    record = await ticketing.find_call(c.session, c.call_sid)
    if record is not None and record.queue is not None:
        raise LeftIvr(record.queue)


async def on_gather(c: Call, step: str, digits: str) -> Plan:
    queue = queued_in(c.state.path)
    if queue is not None:  # an agent's now: no PIN attempt, no path entry
        raise LeftIvr(queue)
    digits = digits.strip().rstrip("#")
    if not digits:
        return await silence(c, step)
    c.state.silences = 0
    if step == "language":
        return await language(c, digits)
    if step == "pin":
        return await pin(c, digits)
    if step == "pay":
        return await pay(c, digits)
    return await menu(c, digits)


async def silence(c: Call, step: str) -> Plan:
    c.state.silences += 1
    r = Plan()
    if c.state.silences >= SILENCES:
        c.state.path.append("silent")  # written with the hand-off
        return await hand_off(c, r)
    if step == "language":
        c.gather(r, "language", "choose_language")
    elif step == "pin":
        c.say(r, "no_input")
        c.gather(r, "pin", "pin", digits=6)
    else:
        c.say(r, "no_input")
        c.gather(r, "menu", "menu")
    return r


async def language(c: Call, digits: str) -> Plan:
    r = Plan()
    chosen = {"1": "zh", "2": "en"}.get(digits[:1])
    if chosen is None:
        c.gather(r, "language", "choose_language")
        return r
    c.state.language = chosen
    await c.step(f"lang:{chosen}")
    c.say(r, "welcome")
    c.gather(r, "menu", "menu")
    return r


async def menu(c: Call, digits: str) -> Plan:
    r = Plan()
    choice = digits[:1]
    if choice == "0":
        c.state.path.append("0")  # written with the hand-off, in its one statement
        return await hand_off(c, r)
    if choice not in SERVICES:
        c.say(r, "invalid")
        c.gather(r, "menu", "menu")
        return r
    await c.step(choice)
    if c.state.customer_id is None:  # nobody to read out: an agent finds the caller
        c.say(r, "unknown_caller")
        return await hand_off(c, r, said=True)
    if c.state.verified_id is None:
        c.state.pending = choice
        c.gather(r, "pin", "pin", digits=6)
        return r
    return await serve(c, choice, r)


async def pin(c: Call, digits: str) -> Plan:
    """Check the PIN through auth (counted by the login throttle); the digits go no further."""
    r = Plan()
    services = c.services
    try:
        verification = await auth.verify_by_keypad(
            services.runtime,
            c.session,
            c.phone,
            digits,
            gate=services.throttle,
            call_sid=c.call_sid,
        )
    except auth.CallerPinWrong:
        c.state.pin_misses += 1
        if c.state.pin_misses < PIN_TRIES:
            await c.step("pin:wrong")
            c.gather(r, "pin", "pin_wrong_again", digits=6)
            return r
        await c.step("pin:wrong", verification="failed")
        c.say(r, "pin_failed")
        return await hand_off(c, r, said=True)
    except (Throttled, ValidationFailed):  # delayed or locked (AccountLocked is Throttled)
        await c.step("pin:locked", verification="locked")
        c.say(r, "pin_locked")
        return await hand_off(c, r, said=True)
    c.state.verified_id = verification.customer_id
    c.state.verification_id = verification.id
    await c.step(
        "pin:ok",
        verification="verified",
        verification_id=verification.id,
        customer_id=verification.customer_id,
    )
    choice, c.state.pending = c.state.pending, ""
    return await serve(c, choice or "menu", r)
