"""One inbound text, start to finish: the sender's lock, the MessageSid answered once, the
pumping budget, the command, and both messages stored.

All of it is one transaction (core.sms_delivery.answer_once): the command's writes (an order
held, a payment, a cancel, a ticket comment), the stored text and reply, and the MessageSid's
row commit together, so a gateway retry of the same MessageSid reads the stored reply and
changes nothing twice. That row's key is the idempotency key of every money and cancel move a
text makes (payments' request key is derived from it too). The sender's lock is taken at the
start of that transaction, so one number's texts are handled one at a time in arrival order.

Nothing is written before a PIN check (its miss is recorded in its own transaction), and
every command runs in a savepoint: a refusal rolls back what it began, and the text and the
reply saying why are still stored.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from api.composition import Services
from core.errors import Busy, DomainError
from core.phone import InvalidPhone, normalise_phone
from core.sms import set_opted_out
from core.sms_delivery import answer_once

from . import budget, offers, orders, pin, read_only, tickets
from .context import Answer, InboundSms, Sender, Turn, reply_language
from .ordering import Opening, SenderLocks, lock_and_read
from .parser import (
    BOOK,
    CANCEL,
    CARD,
    COMPLAIN,
    EMPTY,
    HELP,
    INFO,
    LIST,
    PAY,
    PIN_VERBS,
    START,
    STATUS,
    STOP,
    SURVEY,
    TEXT,
    TICKET,
    Command,
    parse,
)
from .records import store
from .texts import text

log = structlog.get_logger("hotline.sms")
LOCKS = SenderLocks()  # this process's queue per number (see ordering.py)
# A number with this many texts already queued in this process is flooding: the next are
# dropped unanswered and unrecorded, so a flood cannot hold a connection per text (the gateway
# may retry them; by then the budget answers them with silence).
MAX_QUEUED = 50
USAGE = {
    "book": "usage_book",
    "address": "usage_address",
    "order_pin": "usage_order_pin",
    "order": "usage_order",
    "code": "usage_code",
    "list": "usage_list",
    "text": "usage_text",
}
READ_ONLY = frozenset({HELP, LIST, INFO, STATUS, EMPTY})
VERB_WORDS = {"zh": {PAY: "支付", CANCEL: "取消", CARD: "刷卡", STATUS: "状态", TICKET: "电子票"}}


async def handle(services: Services, sms: InboundSms) -> tuple[str, bool]:
    """The reply ("" to stay silent) and whether this was the first time this MessageSid came."""
    settings = services.runtime.settings
    phone = _sender_phone(sms.sender, settings.default_region)
    lock_key = phone or sms.sender[:40]
    now = services.runtime.clock.now()
    command = parse(sms.body, today=now.astimezone(settings.zone).date())
    drivers = services.runtime.drivers
    outcome: list[Answer] = []
    opened: list[Opening] = []

    async def serialise(session: AsyncSession) -> str | None:
        opened.append(await lock_and_read(session, lock_key, sms.message_sid, phone, now))
        return opened[-1].stored_reply

    async def answer(session: AsyncSession) -> str:
        result = await _answer(services, session, sms, command, phone, now, opened[-1])
        outcome.append(result)
        return result.reply

    if LOCKS.queued(lock_key) >= MAX_QUEUED:
        log.warning("sms dropped: flood", message_sid=sms.message_sid, queued=MAX_QUEUED)
        return "", True
    async with LOCKS.hold(lock_key):
        quick = None
        if drivers is not None and read_only.applies(command, phone):  # no ORM session
            assert phone is not None
            quick = await read_only.answer(drivers, settings, sms, phone, command, now)
        if quick is not None:
            reply, first, done = quick
        else:
            reply, first = await answer_once(
                services.runtime.sessions,
                sms.message_sid,
                phone,
                now,
                answer,
                serialise=serialise,
                answer_records=True,  # records.store writes the MessageSid's row as well
            )
            # a copy that lost the race: rolled back
            done = outcome[-1] if outcome and first else None
    log.info(
        "sms received",
        message_sid=sms.message_sid,
        repeated=not first,
        outcome=done.outcome if done else "repeated",
        order_id=done.order_id if done else None,
        ticket_id=done.ticket_id if done else None,
    )
    return reply, first


async def _answer(
    services: Services,
    session: AsyncSession,
    sms: InboundSms,
    command: Command,
    phone: str | None,
    now: datetime,
    opened: Opening,
) -> Answer:
    settings = services.runtime.settings
    customer = Sender(opened.customer_id, opened.locale) if opened.customer_id else None
    replies = opened.replies
    language = reply_language(customer.locale if customer else None, command)
    purpose = budget.REPLY
    if phone is None:
        result = Answer("", "bad_sender")
    else:
        if command.verb in (STOP, START):
            await set_opted_out(session, phone, command.verb == STOP, now)
        if customer is None:
            verdict = await budget.unknown_number(session, settings, phone, now)
            purpose = budget.HINT
            if verdict == "ignore":
                result = Answer("", "ignored_unknown")
            elif command.verb in (STOP, START):
                result = Answer(text(_opted(command.verb), language), _opted(command.verb))
            else:
                result = Answer(text("enroll", language), "enroll_hint")
        else:
            verdict = await budget.known_number(session, settings, phone, now, replies)
            if verdict == "ignore":
                result = Answer("", "ignored_flood")
            elif verdict == "notice":
                purpose, result = budget.FLOOD, Answer(text("flood", language), "flood_notice")
            else:
                turn = Turn(
                    services, session, phone, customer, command, language, now, sms.message_sid
                )
                result = await _dispatch(turn)
    await store(session, sms, phone, command, result, purpose, now)
    return result


@lru_cache(maxsize=4096)
def _sender_phone(sender: str, region: str) -> str | None:
    """`From` in E.164, None when it is no valid number. Remembered: phonenumbers' parse was
    a sizeable part of a text's CPU, and the same numbers text again and again."""
    try:
        return normalise_phone(sender, region)
    except InvalidPhone:
        return None


def _opted(verb: str) -> str:
    """The reply's text kind and the outcome of STOP / START."""
    return "opted_out" if verb == STOP else "opted_in"


async def _dispatch(turn: Turn) -> Answer:
    cmd = turn.command
    if cmd.problem is not None:
        word = VERB_WORDS.get(turn.language, {}).get(cmd.verb, cmd.verb)
        return Answer(turn.say(USAGE[cmd.problem], verb=word), "usage")
    if cmd.verb in (STOP, START):
        return Answer(turn.say(_opted(cmd.verb)), _opted(cmd.verb))
    if cmd.verb in PIN_VERBS:
        assert cmd.pin is not None
        refused = await pin.check(turn.services, turn.session, turn.phone, cmd.pin, turn.language)
        if refused is not None:
            return refused
    try:
        if cmd.verb in READ_ONLY:  # nothing to roll back: no savepoint (two statements less)
            result = await _run(turn)
        else:
            async with turn.session.begin_nested():
                result = await _run(turn)
    except Busy:
        return Answer(turn.say("busy"), "busy")
    except DomainError as exc:
        log.warning("sms command refused", verb=cmd.verb, problem=exc.slug)
        return Answer(turn.say("failed"), f"refused:{exc.slug}"[:40])
    return result or Answer(turn.say("help"), "help")


async def _run(turn: Turn) -> Answer | None:
    verb = turn.command.verb
    if verb == LIST:
        return await offers.list_offers(turn)
    if verb == INFO:
        return await offers.info(turn)
    if verb == BOOK:
        return await orders.book(turn)
    if verb == PAY:
        return await orders.pay(turn, "carrier_billing")
    if verb == CARD:
        return await orders.pay(turn, "card")
    if verb == STATUS:
        return await orders.status(turn)
    if verb == CANCEL:
        return await orders.cancel(turn)
    if verb == TICKET:
        return await orders.resend_ticket(turn)
    if verb == COMPLAIN:
        return await tickets.complain(turn)
    if verb == SURVEY:
        return await tickets.survey(turn)
    if verb == TEXT:
        return await tickets.join_open_ticket(turn)
    return None  # HELP, an empty text: the help text
