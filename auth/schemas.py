"""Request and response bodies of the auth routes (msgspec)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    pin: str


class TokenOut(msgspec.Struct):
    access_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    customer_id: str | None = None
    agent_id: str | None = None
    roles: list[str] | None = None


class AgentTokenIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str


class EnrollmentIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str


class EnrollmentConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    code: str
    pin: str


class CustomerIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    name: str | None = None
    locale: str = "zh"


class CustomerOut(msgspec.Struct):
    id: str
    phone: str
    name: str | None
    locale: str
    created_at: datetime
    has_pin: bool


class AgentIn(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    display_name: str | None = None
    roles: list[str] = msgspec.field(default_factory=lambda: ["agent"])


class AgentOut(msgspec.Struct):
    id: str
    username: str
    display_name: str
    roles: list[str]
    active: bool


class VerifyIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: str
    pin: str


class VerifyOut(msgspec.Struct):
    verification_id: str
    customer_id: str
    expires_at: datetime


class MeOut(msgspec.Struct):
    kind: str
    id: str
    roles: list[str]


class SmsOut(msgspec.Struct):
    id: str
    to: str
    body: str
    purpose: str
    created_at: datetime
    status: str  # queued until the sms.send job ran, then sent (the sink accepts at once)
    provider_message_id: str | None = None
    direction: str = "out"  # out | in (a customer's text to the hotline, PIN masked)
    from_phone: str | None = None  # the sender of an inbound text
    segments: int = 0  # GSM-7 160/153 or UCS-2 70/67 characters a segment


class PinChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    current_pin: str
    new_pin: str


class PasswordChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str
