"""Tables of the auth room: customers, agents, one-time codes, caller verifications, audit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = id_column()
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    locale: Mapped[str] = mapped_column(String(5), default="zh")
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[str] = id_column()
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OneTimeCode(Base):
    __tablename__ = "auth_otp_codes"

    id: Mapped[str] = id_column()
    phone: Mapped[str] = mapped_column(String(20), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CallerVerification(Base):
    """A caller proved their PIN: to an agent (`phone`, agent_id set), or by keypad to the IVR
    (`ivr`, no agent until one answers the call and claims it; call_sid names the call)."""

    __tablename__ = "caller_verifications"

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel: Mapped[str] = mapped_column(String(10), default="phone", server_default="phone")
    call_sid: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AuditEvent(Base):
    __tablename__ = "auth_audit"

    id: Mapped[str] = id_column()
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    event: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    subject: Mapped[str | None] = mapped_column(String(80), nullable=True)
    channel: Mapped[str] = mapped_column(String(10))
    client_address: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
