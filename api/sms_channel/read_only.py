"""HELP, STATUS and an empty text on PostgreSQL: answered in a plain transaction on one of
asyncpg's own connections (core.drivers), with no ORM session.

Why it exists: these texts write nothing but their record, yet the plain path
(inbound.handle -> core.sms_delivery.answer_once) paid for SQLAlchemy's session around
statements already sent as plain SQL: the session and its pool checkout, greenlet hops, the
begin and commit bookkeeping. On bench/sms.py that was the largest part of a STATUS text's
server CPU besides the statements themselves.

It takes the same steps in the same order as the plain path: the number's advisory lock
(ordering.LOCK's, sent with BEGIN in one round trip), the opening read (the MessageSid's
stored reply, the customer, their reply count), the reply, and the one statement storing
the text, its reply and the MessageSid's row (records.store_on), all in one transaction; a
copy of the MessageSid that slipped past the lock fails on its key and gets the reply the
first stored. A text whose answer needs more than that (an unknown number and its hint
budget, a number at its reply budget) has written nothing: the transaction ends and the
plain path answers it, while the caller still holds the number's lock in this process
(inbound.handle), so its place in line is kept.
Tested against the plain path: tests/integration/sms/test_sms_read_only.py.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any

from asyncpg.exceptions import UniqueViolationError

import commerce
from commerce import OrderSummary
from core.drivers import DriverPool
from core.settings import Settings

from . import budget, orders
from .context import Answer, InboundSms, reply_language
from .ordering import lock_name, opening_and, opening_of, opening_values, read_opening
from .orders import RECENT
from .parser import EMPTY, HELP, STATUS, Command
from .records import store_on
from .texts import text

VERBS = frozenset({HELP, STATUS, EMPTY})  # and only when well-formed (a usage reply is not)
_STORED = "SELECT reply FROM sms_inbound WHERE message_sid = $1"
# STATUS's read (commerce.summaries_sql: the latest orders, or the one of a number) with the
# opening's, as orders.status reads them.
_STATUS = {
    by_number: opening_and(
        commerce.summaries_sql("c.id", "$5", "$6" if by_number else None),
        "x.id, x.number, x.status, x.total, x.currency",
        "x.created_at DESC, x.id DESC",
    )
    for by_number in (False, True)
}
_E164 = re.compile(r"\+[0-9]{4,15}")
# BEGIN and ordering.LOCK in one round trip: a simple query (several statements, no bound
# values), so the number is written into it, only ever an E.164 number (_E164: a plus and
# digits). The lock's name is the plain path's (ordering.lock_name): the same lock.
_BEGIN_AND_LOCK = "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('{name}', 0))"


def applies(command: Command, phone: str | None) -> bool:
    """A well-formed HELP, STATUS or empty text from a valid number."""
    return (
        command.verb in VERBS
        and command.problem is None
        and phone is not None
        and _E164.fullmatch(phone) is not None
    )


async def answer(
    drivers: DriverPool,
    settings: Settings,
    sms: InboundSms,
    phone: str,
    command: Command,
    now: datetime,
) -> tuple[str, bool, Answer | None] | None:
    """(reply, first time, what was answered: None for a retry), or None when the plain path
    must answer (nothing was written). `phone` is the sender's E.164 number (`applies`)."""
    if _E164.fullmatch(phone) is None:  # never written into SQL otherwise
        raise ValueError("not an E.164 number")
    async with drivers.connection() as pg:
        try:
            await pg.execute(_BEGIN_AND_LOCK.format(name=lock_name(phone)))
            found = await _answer_on(pg, settings, sms, phone, command, now)
        except UniqueViolationError:  # a copy of the MessageSid got in first: its reply
            await pg.execute("ROLLBACK")
            stored = await pg.fetchval(_STORED, sms.message_sid)
            if stored is None:  # something else clashed: not a retry
                raise
            return stored, False, None
        except BaseException:
            # Ours to end (asyncpg's pool would roll back, or terminate the connection when
            # it cannot, only with a warning): the number's lock goes with it.
            if pg.is_in_transaction():
                with contextlib.suppress(Exception):
                    await pg.execute("ROLLBACK")
            raise
        await pg.execute("COMMIT")
        return found


async def _answer_on(
    pg: Any,
    settings: Settings,
    sms: InboundSms,
    phone: str,
    command: Command,
    now: datetime,
) -> tuple[str, bool, Answer | None] | None:
    number = command.order
    found: list[OrderSummary] = []
    if command.verb == STATUS:  # the sender and their orders in one statement
        values = opening_values(sms.message_sid, phone, now)
        if number:
            rows = await pg.fetch(_STATUS[True], *values, 1, commerce.summary_number(number))
        else:
            rows = await pg.fetch(_STATUS[False], *values, RECENT)
        opened = opening_of(rows[0])
        found = [OrderSummary(*row[4:9]) for row in rows if row[4] is not None]
    else:
        opened = await read_opening(pg, sms.message_sid, phone, now)
    if opened.stored_reply is not None:
        return opened.stored_reply, False, None
    if opened.customer_id is None:
        return None  # an unknown number: its hint budget (budget.unknown_number)
    if opened.replies >= settings.sms_replies_per_hour:
        return None  # a notice or silence (budget.known_number)
    language = reply_language(opened.locale, command)
    if command.verb == STATUS:
        result = orders.status_answer(found, number, language)
    else:
        result = Answer(text("help", language), "help")
    await store_on(pg, sms, phone, command, result, budget.REPLY, now)
    return result.reply, True, result
