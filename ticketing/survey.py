"""Satisfaction by SMS: a survey text when a ticket is resolved, and the customer's reply
("5", or "<ticket number> 5") scored on the ticket it names or their latest one awaiting a
score. The texts are in the customer's language (zh or en)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import auth
from core.errors import NotFound
from core.sms import SmsSender

from .followup import record_satisfaction
from .models import Ticket
from .timeline import record

TEXTS: dict[str, dict[str, str]] = {
    "survey": {
        "zh": "【Hotline】您的工单 {number} 已解决。请回复 1-5 为本次服务评分（5 为非常满意）。",
        "en": "Hotline: your ticket {number} is resolved. Reply 1-5 to rate our service "
        "(5 = very satisfied).",
    },
    "thanks": {
        "zh": "感谢您的评分（{score} 分）！工单 {number}。",
        "en": "Thank you for your rating ({score}/5) of ticket {number}!",
    },
    "help": {
        "zh": "请回复 1-5 为已解决的工单评分，例如“5”，或“工单号 5”如“482-117-730 5”。",
        "en": 'Reply 1-5 to rate a resolved ticket, e.g. "5", or the ticket number and the '
        'score, e.g. "482-117-730 5".',
    },
}
SCORED_STATES = ("resolved", "closed")
_REPLY = re.compile(r"^\s*(?:#?(?P<number>\d{3}-?\d{3}-?\d{3})[\s,，:：]+)?(?P<score>[1-5])\s*$")


def language(locale: str | None) -> str:
    return "en" if (locale or "").lower().startswith("en") else "zh"


def text(kind: str, locale: str | None, **values: Any) -> str:
    return TEXTS[kind][language(locale)].format(**values)


async def send_survey(
    session: AsyncSession, ticket: Ticket, sms: SmsSender, *, now: datetime
) -> bool:
    """Queue the survey text in the resolving transaction: it leaves after the commit (the
    `sms.send` job), never while the ticket row is locked, and never for a resolution that
    rolled back. A customer gone from auth gets none."""
    try:
        customer = await auth.get_customer(session, ticket.customer_id)
    except NotFound:
        return False
    await sms.send(
        session,
        customer.phone,
        text("survey", customer.locale, number=ticket.number),
        purpose="ticket.survey",
    )
    await record(
        session,
        ticket,
        "survey_sent",
        actor="system:survey",
        channel="sms",
        now=now,
        after={"locale": language(customer.locale)},
        public=False,
    )
    return True


@dataclass(frozen=True)
class SmsReply:
    """What to answer an inbound SMS (the TwiML message) and what it scored, if anything."""

    message: str
    ticket_id: str | None = None
    score: int | None = None


def parse_reply(body: str) -> tuple[str | None, int] | None:
    m = _REPLY.match(body or "")
    if m is None:
        return None
    number = m.group("number")
    if number:
        digits = number.replace("-", "")
        number = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return number, int(m.group("score"))


async def _awaiting(session: AsyncSession, customer_id: str, number: str | None) -> Ticket | None:
    q = select(Ticket).where(Ticket.customer_id == customer_id, Ticket.status.in_(SCORED_STATES))
    if number is not None:
        q = q.where(Ticket.number == number)  # named: scoring it again corrects the score
    else:
        q = q.where(Ticket.satisfaction.is_(None)).order_by(
            Ticket.resolved_at.desc().nulls_last(), Ticket.id
        )
    return (await session.execute(q.limit(1))).scalar_one_or_none()


async def awaiting_score(session: AsyncSession, customer_id: str) -> Ticket | None:
    """The customer's latest resolved ticket still awaiting a score (the SMS channel answers
    an unreadable text with the survey's help while there is one)."""
    return await _awaiting(session, customer_id, None)


async def handle_sms_reply(
    session: AsyncSession, phone: str | None, body: str, *, now: datetime
) -> SmsReply:
    """Score the ticket a customer's reply points at; anything else (an unknown or unreadable
    sender, no 1-5, no resolved ticket) gets the help text."""
    customer = await auth.find_customer_by_phone(session, phone) if phone else None
    locale = customer.locale if customer is not None else None
    parsed = parse_reply(body)
    if customer is None or parsed is None:
        return SmsReply(text("help", locale))
    number, score = parsed
    ticket = await _awaiting(session, customer.id, number)
    if ticket is None:
        return SmsReply(text("help", locale))
    await record_satisfaction(
        session, ticket.id, score=score, source="sms", actor=f"customer:{customer.id}", now=now
    )
    return SmsReply(text("thanks", locale, score=score, number=ticket.number), ticket.id, score)
