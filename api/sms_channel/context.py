"""What every command handler is given, and what it answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.composition import Services
from core.principal import Principal

from .parser import Command
from .texts import text


@dataclass(frozen=True)
class InboundSms:
    """The fields of the gateway's form we use (others are tolerated and ignored)."""

    message_sid: str
    sender: str  # `From` as sent
    to: str
    body: str
    num_segments: int | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """The customer who texted (auth's row, read with the reply budget in one statement)."""

    id: str
    locale: str | None


def reply_language(locale: str | None, command: Command) -> str:
    """en or zh: the customer's stored language, else the one the text was written in."""
    language = locale or command.language or "zh"
    return "en" if language.startswith("en") else "zh"


@dataclass(frozen=True)
class Turn:
    """One inbound text being handled, in the handling transaction."""

    services: Services
    session: AsyncSession
    phone: str
    customer: Sender
    command: Command
    language: str  # the customer's stored language, else the text's
    now: datetime
    message_sid: str  # the gateway's id: money and cancel moves are keyed by it

    @property
    def principal(self) -> Principal:
        return Principal("customer", self.customer.id, via="sms")

    @property
    def actor(self) -> str:
        return f"customer:{self.customer.id}"

    def say(self, kind: str, **values: object) -> str:
        return text(kind, self.language, **values)

    def key(self, operation: str) -> str:
        """The idempotency key of a money or cancel move: a retried text is the same key."""
        return f"sms:{operation}:{self.message_sid}"


@dataclass(frozen=True)
class Answer:
    reply: str
    outcome: str
    order_id: str | None = None
    ticket_id: str | None = None
