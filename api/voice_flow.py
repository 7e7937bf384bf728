"""The IVR menu (API.md, Voice): one function per webhook step, each answering TwiML built with
twilio's VoiceResponse. It lives in the entry point because option 2 moves money (payments)
and option 3 resends an e-ticket (fulfillment), rooms ticketing may not reach; the call's
record and skill queues are ticketing's (ticketing/calls.py), the PIN check auth's.

Steps: incoming -> language (unknown numbers only; a known caller hears their own language)
-> menu: 1 latest order's status, 2 pay an unpaid order from the phone account, 3 resend the
e-ticket, 4 open complaints, 0 an agent. 1-4 read the account, so they ask the PIN first
(auth.verify_by_keypad: the throttle and lock of every login); a wrong PIN is asked once more,
then the caller goes to an agent. Digits of a PIN are never logged, kept in the call's state or
written to its record: the path says `pin:ok`, `pin:wrong` or `pin:locked`.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.twiml.voice_response import VoiceResponse

import auth
import commerce
import fulfillment
import payments
import ticketing
from api.composition import Services
from api.voice_prompts import (
    ORDER_STATUS,
    SAY_LANGUAGE,
    TICKET_STATUS,
    amount,
    say,
    spelled,
    word,
)
from api.voice_state import CallState
from core.drivers import DriverPool
from core.errors import Throttled, ValidationFailed
from core.principal import Principal

log = structlog.get_logger("hotline.voice")

GATHER_PATH = "/v1/voice/gather/{step}"
STEPS = ("language", "menu", "pin", "pay")
SERVICES = ("1", "2", "3", "4")  # menu choices that read the account (PIN first)
QUEUE_OF = {"1": "delivery", "2": "billing", "3": "delivery", "4": "general"}
PIN_TRIES = 2  # the PIN is asked once more after a miss, then an agent takes the call
SILENCES = 3  # Gathers in a row without a key before an agent takes the call


@dataclass
class Call:
    """One webhook's view of the call: who calls, its state, where to answer."""

    services: Services
    session: AsyncSession
    call_sid: str
    phone: str  # E.164 of the caller ("" when the provider sent no usable number)
    to: str
    state: CallState

    @property
    def lang(self) -> str:
        return self.state.language or "zh"

    def url(self, step: str) -> str:
        base = self.services.runtime.settings.public_base_url.rstrip("/")
        return base + GATHER_PATH.format(step=step)

    def say(self, r: VoiceResponse, key: str, **values: object) -> None:
        r.say(say(self.lang, key, **values), language=SAY_LANGUAGE[self.lang])

    def gather(
        self, r: VoiceResponse, step: str, *keys: str, digits: int = 1, **values: object
    ) -> None:
        """Ask for keys; no key before the timeout falls through to a Redirect back to the
        same step, which hears it as silence."""
        g = r.gather(
            input="dtmf",
            num_digits=digits,
            finish_on_key="#",
            timeout=self.services.runtime.settings.voice_gather_timeout_seconds,
            action=self.url(step),
            method="POST",
        )
        for key in keys:
            if key == "choose_language":  # said in both languages, each in its own voice
                g.say(say("zh", key), language="zh-CN")
                g.say(say("en", key), language="en-US")
            else:
                g.say(say(self.lang, key, **values), language=SAY_LANGUAGE[self.lang])
        r.redirect(self.url(step), method="POST")

    @property
    def driver_pool(self) -> DriverPool | None:
        """asyncpg's pool for a step that writes nothing but the call's record (PostgreSQL;
        ticketing/calls_pg.py says why); None once the step's session has begun, so the
        record commits with what else the step wrote."""
        if self.session.in_transaction():
            return None
        return self.services.runtime.drivers

    async def step(self, label: str, **changes: str | None) -> None:
        """Remember a step in the state and in the call's record (never a PIN's digits)."""
        self.state.path.append(label)
        pool = self.driver_pool
        if pool is not None and not changes:
            async with pool.connection() as conn:
                await ticketing.note_step_on(
                    conn, self.call_sid, path=self.state.path, language=self.lang
                )
            return
        await ticketing.note_step(
            self.session, self.call_sid, path=self.state.path, language=self.lang, **changes
        )


# -- the steps ------------------------------------------------------------------------------
async def incoming(c: Call) -> VoiceResponse:
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
            await ticketing.open_call_on(conn, **record)  # type: ignore[arg-type]
    else:
        await ticketing.open_call(c.session, **record)  # type: ignore[arg-type]
    r = VoiceResponse()
    if not c.state.language:
        c.gather(r, "language", "choose_language")
        return r
    c.say(r, "welcome")
    c.gather(r, "menu", "menu")
    return r


async def on_gather(c: Call, step: str, digits: str) -> VoiceResponse:
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


async def silence(c: Call, step: str) -> VoiceResponse:
    c.state.silences += 1
    r = VoiceResponse()
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


async def language(c: Call, digits: str) -> VoiceResponse:
    r = VoiceResponse()
    chosen = {"1": "zh", "2": "en"}.get(digits[:1])
    if chosen is None:
        c.gather(r, "language", "choose_language")
        return r
    c.state.language = chosen
    await c.step(f"lang:{chosen}")
    c.say(r, "welcome")
    c.gather(r, "menu", "menu")
    return r


async def menu(c: Call, digits: str) -> VoiceResponse:
    r = VoiceResponse()
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


async def pin(c: Call, digits: str) -> VoiceResponse:
    """Check the PIN through auth (counted by the login throttle); the digits go no further."""
    r = VoiceResponse()
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


async def serve(c: Call, choice: str, r: VoiceResponse) -> VoiceResponse:
    """Do what the verified caller chose, then offer the menu again."""
    if choice == "1":
        await order_status(c, r)
    elif choice == "2":
        if await offer_payment(c, r):
            return r
    elif choice == "3":
        await resend_eticket(c, r)
    elif choice == "4":
        await complaints(c, r)
    c.gather(r, "menu", "menu")
    return r


def _customer(c: Call) -> Principal:
    assert c.state.verified_id is not None
    return Principal("customer", c.state.verified_id)


async def order_status(c: Call, r: VoiceResponse) -> None:
    page = await commerce.list_orders(c.session, _customer(c), limit=1)
    if not page.items:
        c.say(r, "no_orders")
    else:
        order = page.items[0]
        c.say(
            r,
            "order_status",
            number=spelled(order.number),
            title=order.items[0].title if order.items else "",
            status=word(ORDER_STATUS, c.lang, order.status),
        )
    await c.step("done:order-status")


async def offer_payment(c: Call, r: VoiceResponse) -> bool:
    """Offer the newest unpaid order; True when a Gather waits for "1 to pay"."""
    page = await commerce.list_orders(
        c.session, _customer(c), status=commerce.OrderStatus.AWAITING_PAYMENT, limit=1
    )
    if not page.items:
        c.say(r, "no_unpaid")
        await c.step("done:no-unpaid")
        return False
    order = page.items[0]
    c.state.pay_order_id = order.id
    await c.step("pay:offered")
    c.gather(
        r,
        "pay",
        "pay_offer",
        number=spelled(order.number),
        title=order.items[0].title if order.items else "",
        amount=amount(c.lang, order.total, order.currency),
    )
    return True


async def pay(c: Call, digits: str) -> VoiceResponse:
    """ "1" pays the offered order from the phone account: payments.start_payment, the code of
    POST /v1/orders/{id}/payments with carrier_billing, keyed by CallSid + order so a retried
    webhook charges once. Anything else goes back to the menu."""
    r = VoiceResponse()
    order_id, c.state.pay_order_id = c.state.pay_order_id, None
    if digits[:1] != "1" or order_id is None or c.state.verified_id is None:
        await c.step("pay:back")
        c.gather(r, "menu", "menu")
        return r
    deps = c.services.payments
    try:
        async with c.session.begin_nested():  # a refusal leaves no half-made payment behind
            p = await payments.start_payment(
                c.session,
                deps,
                order_id,
                payments.domain.CARRIER,
                principal=_customer(c),
                request_key=f"ivr:{c.call_sid}:{order_id}",
                now=c.services.runtime.clock.now(),
            )
    except payments.InsufficientCredit:
        c.say(r, "insufficient_credit")
        await c.step("pay:insufficient-credit")
    except payments.AlreadyPaid:
        c.say(r, "already_paid")
        await c.step("pay:already-paid")
    except (payments.OrderNotPayable, payments.PayLinkExpired, ValidationFailed) as exc:
        log.info("voice payment refused", call_sid=c.call_sid, reason=type(exc).__name__)
        c.say(r, "not_payable")
        await c.step("pay:not-payable")
    except Exception as exc:  # a state the phone cannot explain (InvalidTransition...)
        if getattr(exc, "status", 500) >= 500:
            raise
        c.say(r, "not_payable")
        await c.step("pay:not-payable")
    else:
        order = await commerce.get_order(c.session, order_id)
        c.say(
            r,
            "paid",
            number=spelled(order.number),
            amount=amount(c.lang, p.amount, p.currency),
        )
        await c.step("done:paid")
    c.gather(r, "menu", "menu")
    return r


async def resend_eticket(c: Call, r: VoiceResponse) -> None:
    assert c.state.verified_id is not None
    resent = await fulfillment.resend_latest_eticket(c.session, c.services.sms, c.state.verified_id)
    if resent is None:
        c.say(r, "no_eticket")
        await c.step("done:no-eticket")
        return
    c.say(r, "eticket_resent", number=spelled(resent.order_number))
    await c.step("done:eticket-resent")


async def complaints(c: Call, r: VoiceResponse) -> None:
    assert c.state.verified_id is not None
    tickets = await ticketing.open_complaints(c.session, c.state.verified_id)
    if not tickets:
        c.say(r, "no_complaints")
    else:
        items = "".join(
            say(
                c.lang,
                "complaint",
                number=spelled(t.number),
                status=word(TICKET_STATUS, c.lang, t.status),
            )
            + " "
            for t in tickets
        )
        c.say(r, "complaints", count=len(tickets), items=items.strip())
    await c.step("done:complaints")


async def hand_off(c: Call, r: VoiceResponse, *, said: bool = False) -> VoiceResponse:
    """Enqueue the call to the skill queue of the last service chosen (billing for a payment,
    delivery for an order or e-ticket, general otherwise), with the path and the keypad
    verification on its record for the agent's screen pop."""
    queue = "general"
    for label in reversed(c.state.path):
        if label in QUEUE_OF:
            queue = QUEUE_OF[label]
            break
    c.state.path.append(f"queue:{queue}")
    now, pool = c.services.runtime.clock.now(), c.driver_pool
    if pool is not None:
        async with pool.connection() as conn:
            await ticketing.enqueue_call_on(
                conn, c.call_sid, queue, now, path=c.state.path, language=c.lang
            )
    else:
        await ticketing.enqueue_call(
            c.session, c.call_sid, queue, now, path=c.state.path, language=c.lang
        )
    if not said:
        c.say(r, "to_agent")
    r.enqueue(queue)
    return r
