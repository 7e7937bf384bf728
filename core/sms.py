"""SMS port: the built-in sink (a table, for demo and tests) and a Twilio-compatible sender."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import httpx
from sqlalchemy import String, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import Clock, SystemClock
from core.db import Base, UtcDateTime, id_column, new_id
from core.errors import UpstreamUnavailable


class SmsMessage(Base):
    __tablename__ = "sms_messages"

    id: Mapped[str] = id_column()
    to: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20), default="sent")


class SmsSender(Protocol):
    async def send(self, session: AsyncSession, to: str, body: str, *, purpose: str) -> str: ...


class SinkSmsSender:
    """Stores each message in `sms_messages` inside the caller's transaction."""

    is_sink = True

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    async def send(self, session: AsyncSession, to: str, body: str, *, purpose: str) -> str:
        message_id = new_id()
        await session.execute(
            insert(SmsMessage).values(
                id=message_id,
                to=to,
                body=body,
                purpose=purpose,
                created_at=self.clock.now(),
                status="sent",
            )
        )
        return message_id

    async def outbox(
        self, session: AsyncSession, to: str | None, limit: int = 50
    ) -> list[SmsMessage]:
        stmt = select(SmsMessage).order_by(SmsMessage.created_at.desc()).limit(limit)
        if to:
            stmt = stmt.where(SmsMessage.to == to)
        return list((await session.scalars(stmt)).all())


class TwilioSmsSender:
    """Twilio's REST Messages API (or any compatible server at `base_url`)."""

    is_sink = False

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str = "https://api.twilio.com",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.base_url = base_url.rstrip("/")
        self.transport = transport
        self.timeout = timeout

    async def send(self, session: AsyncSession, to: str, body: str, *, purpose: str) -> str:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        async with httpx.AsyncClient(transport=self.transport, timeout=self.timeout) as http:
            try:
                resp = await http.post(
                    url,
                    data={"To": to, "From": self.from_number, "Body": body},
                    auth=(self.account_sid, self.auth_token),
                )
            except httpx.HTTPError as exc:
                raise UpstreamUnavailable(
                    f"sms provider unreachable: {type(exc).__name__}"
                ) from exc
        if resp.status_code >= 300:
            raise UpstreamUnavailable(f"sms provider answered {resp.status_code}")
        sid = resp.json().get("sid")
        return str(sid or "")


def build_sms_sender(settings: object, clock: Clock | None = None) -> SmsSender:
    from core.settings import Settings

    assert isinstance(settings, Settings)
    if settings.sms_sender == "twilio":
        return TwilioSmsSender(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from,
            base_url=settings.twilio_base_url,
        )
    return SinkSmsSender(clock)
