"""SMS port. A room never talks to the SMS provider itself: `SmsOutbox.send` writes the message
to `sms_messages` (status `queued`) and an outbox message `sms.send` in the caller's
transaction, so a rolled-back change texts nobody and a commit is never followed by a lost
text. The `sms.send` job (core.sms_delivery) then calls the provider outside any transaction.

Providers: the built-in sink (demo and tests: it accepts everything, the table is the inbox,
read at `GET /v1/admin/sms-outbox`) and Twilio's REST API or any compatible server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import Index, Integer, String, Text, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock, SystemClock
from core.db import Base, UtcDateTime, id_column, is_postgres, new_id
from core.drivers import as_rows
from core.errors import UpstreamUnavailable
from core.outbox import emit
from core.sms_text import segments

TOPIC_SEND = "sms.send"
STATUS_PATH = "/v1/webhooks/sms/status"  # the delivery-status webhook (api/controllers/sms.py)
# Texts whose body is a secret: once the provider has it, our copy is blanked (the sink's
# table is the demo's inbox, so there it stays readable).
SECRET_PURPOSES = frozenset({"otp"})
# Texts we send unasked (China's commercial-SMS rule): they carry the opt-out line and an
# opted-out number (`sms_opt_outs`, STOP/TD/退订) does not get them. Everything else is
# something the customer asked for (a code, a pay link, e-tickets, a reply to a text).
MARKETING_PURPOSES = frozenset({"marketing", "ticket.survey"})
OPT_OUT_LINE = {"zh": "拒收请回复TD", "en": "Reply STOP to opt out"}
IN, OUT = "in", "out"  # `direction` of a stored message
RECEIVED, REPLIED = "received", "replied"  # an inbound text; a reply that left as TwiML

# Our statuses, in the order a message moves through them. `queued`: written, waiting for the
# job; `sending`: a job holds it (lease) and is talking to the provider; `sent`: the provider
# accepted it (its id is stored); then what the delivery-status webhook reports, final.
QUEUED, SENDING, SENT = "queued", "sending", "sent"
DELIVERED, UNDELIVERED, FAILED = "delivered", "undelivered", "failed"
RANK = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, UNDELIVERED: 3, FAILED: 3}


class SmsMessage(Base):
    """One text, out (queued for the provider, or a reply that left in the webhook's TwiML)
    or in (what a customer texted the hotline, PIN masked). The auth room created the table;
    every room sends through it and the SMS channel records its conversation in it."""

    __tablename__ = "sms_messages"

    id: Mapped[str] = id_column()
    to: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    # The delivery-status webhook finds the message by it.
    provider_message_id: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    direction: Mapped[str] = mapped_column(String(3), default=OUT, server_default=OUT)
    from_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)  # inbound
    command: Mapped[str | None] = mapped_column(String(20), nullable=True)  # as parsed
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ticket_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    segments: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (
        # The sweep looks for `sending` rows whose lease lapsed.
        Index("ix_sms_messages_status_lease", "status", "lease_until"),
        # A customer's conversation (agents' view) and the per-number reply budget.
        Index("ix_sms_messages_to_created", "to", "created_at"),
        Index("ix_sms_messages_from_created", "from_phone", "created_at"),
        # The budget of replies to unknown numbers.
        Index("ix_sms_messages_purpose_created", "purpose", "created_at"),
    )


class SmsOptOut(Base):
    """A number that texted STOP/TD/退订: no marketing text until it texts START."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UtcDateTime())


async def is_opted_out(session: AsyncSession, phone: str) -> bool:
    """Whether `phone` refuses marketing texts: the one reading of `sms_opt_outs` for the SMS
    channel's STOP/START, the shop's account switch and `SmsOutbox.send`."""
    found = await session.execute(select(SmsOptOut.phone).where(SmsOptOut.phone == phone))
    return found.first() is not None


async def set_opted_out(session: AsyncSession, phone: str, opted_out: bool, now: datetime) -> None:
    """Opt `phone` out of (True: STOP/TD/退订, or the switch off) or back into (False: START,
    or the switch on) marketing texts, in the caller's transaction. Idempotent, and a STOP
    racing the web switch cannot fail on the primary key: both write one row or none."""
    if not opted_out:
        await session.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))
    elif is_postgres(session):
        row = {"phone": phone, "opted_out_at": now}
        await session.execute(pg_insert(SmsOptOut).values(row).on_conflict_do_nothing())
    elif not await is_opted_out(session, phone):
        session.add(SmsOptOut(phone=phone, opted_out_at=now))
        await session.flush()


class SmsInbound(Base):
    """An inbound SMS we answered, by the gateway's `MessageSid`: a retry of the same message
    gets the stored TwiML reply and changes nothing (the primary key settles concurrent ones)."""

    __tablename__ = "sms_inbound"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reply: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SmsRejected(Exception):
    """The provider refused the message for good (a 4xx: bad number, blocked, ...)."""


class SmsProvider(Protocol):
    """Hands one text to the gateway and returns the gateway's message id. It takes no
    session on purpose: it is only called by the `sms.send` job, outside any transaction."""

    is_sink: bool

    async def deliver(self, to: str, body: str) -> str: ...


class SinkSmsProvider:
    """Accepts everything at once; the `sms_messages` row is the delivered text."""

    is_sink = True

    async def deliver(self, to: str, body: str) -> str:
        return "SM" + new_id()


class TwilioSmsProvider:
    """Twilio's REST Messages API (or any compatible server at `base_url`)."""

    is_sink = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str = "https://api.twilio.com",
        status_callback: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")
        self.status_callback = status_callback
        self.transport = transport
        self.timeout = timeout

    async def deliver(self, to: str, body: str) -> str:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        form = {"To": to, "From": self.from_number, "Body": body}
        if self.status_callback:  # Twilio calls back only when a message names the URL
            form["StatusCallback"] = self.status_callback
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as http:
            try:
                resp = await http.post(
                    url,
                    data=form,
                    auth=(self.account_sid, self.auth_token),
                )
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(
                    f"sms provider unreachable: {type(exc).__name__}"
                ) from exc
        if resp.status_code == 429 or resp.status_code >= 500:
            raise UpstreamUnavailable(f"sms provider answered {resp.status_code}")
        if resp.status_code >= 300:  # Twilio's 4xx: the number or the message is refused
            raise SmsRejected(f"sms provider refused it: {resp.status_code} {resp.text[:200]}")
        sid = resp.json().get("sid")
        if not sid:
            raise UpstreamUnavailable("sms provider answered without a message sid")
        return str(sid)


class SmsSender(Protocol):
    """What rooms are given: queue a text in the caller's transaction (see `SmsOutbox`)."""

    async def send(
        self,
        session: AsyncSession,
        to: str,
        body: str,
        *,
        purpose: str,
        order_id: str | None = None,
        ticket_id: str | None = None,
    ) -> str: ...


class SmsOutbox:
    """The SMS port of a runtime: `send` queues (nothing leaves before the commit) and the
    `sms.send` job delivers through `provider`."""

    def __init__(self, provider: SmsProvider, clock: Clock | None = None) -> None:
        self.provider = provider
        self.clock = clock or SystemClock()

    @property
    def is_sink(self) -> bool:
        return self.provider.is_sink

    async def send(
        self,
        session: AsyncSession,
        to: str,
        body: str,
        *,
        purpose: str,
        order_id: str | None = None,
        ticket_id: str | None = None,
    ) -> str:
        """Queue `body` for `to` in the caller's transaction; return our message id ("" when
        a marketing text meets an opted-out number: nothing is queued)."""
        now = self.clock.now()
        if purpose in MARKETING_PURPOSES:
            if await is_opted_out(session, to):
                return ""
            line = OPT_OUT_LINE["en" if body.isascii() else "zh"]
            body = f"{body} {line}" if body.isascii() else f"{body}{line}"
        message = SmsMessage(
            id=new_id(),
            to=to,
            body=body,
            purpose=purpose,
            created_at=now,
            status=QUEUED,
            attempts=0,
            status_at=now,
            direction=OUT,
            order_id=order_id,
            ticket_id=ticket_id,
            segments=segments(body),
        )
        session.add(message)
        emit(session, TOPIC_SEND, {"sms_id": message.id}, now=now)
        return message.id

    async def outbox(
        self, session: AsyncSession, to: str | None, limit: int = 50
    ) -> list[SmsMessage]:
        stmt = select(SmsMessage).order_by(SmsMessage.created_at.desc()).limit(limit)
        if to:
            stmt = stmt.where((SmsMessage.to == to) | (SmsMessage.from_phone == to))
        return list((await session.scalars(stmt)).all())

    async def outbox_on(self, driver: Any, to: str, limit: int = 50) -> list[Any]:
        """`outbox(session, to)` on an asyncpg connection (core.drivers): the columns a line
        of the caller's record shows, as rows read by attribute."""
        return as_rows(
            await driver.fetch(
                'SELECT id, "to", from_phone, direction, body, purpose, status, created_at'
                ' FROM sms_messages WHERE "to" = $1 OR from_phone = $1'
                " ORDER BY created_at DESC LIMIT $2",
                to,
                limit,
            )
        )


def build_sms_provider(settings: object) -> SmsProvider:
    from core.settings import Settings

    assert isinstance(settings, Settings)
    if settings.sms_sender == "twilio":
        return TwilioSmsProvider(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            base_url=settings.twilio_base_url,
            status_callback=settings.public_base_url.rstrip("/") + STATUS_PATH,
        )
    return SinkSmsProvider()


def build_sms_sender(settings: object, clock: Clock | None = None) -> SmsOutbox:
    return SmsOutbox(build_sms_provider(settings), clock)
