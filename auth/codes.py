"""One-time codes by SMS: enrollment of a new number and the PIN reset that lifts a lock."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth.domain import hash_code, pin_problem
from auth.models import Customer, OneTimeCode
from auth.service import change_pin, create_customer, find_customer_by_phone, phone_or_422
from auth.throttle import Throttle
from core.db import new_id
from core.errors import InvalidCredentials, ValidationFailed
from core.runtime import Runtime
from core.sms import SmsSender


async def send_code(
    runtime: Runtime,
    session: AsyncSession,
    raw_phone: Any,
    *,
    gate: Throttle,
    sms: SmsSender,
    address: str,
    purpose: str = "enrollment",
) -> None:
    now = runtime.clock.now()
    await gate.hit_address(address, now)
    phone = phone_or_422(runtime, raw_phone)
    await gate.code_sent(phone, now)
    code = f"{secrets.randbelow(10**6):06d}"
    await session.execute(
        update(OneTimeCode)
        .where(OneTimeCode.phone == phone, OneTimeCode.used.is_(False))
        .values(used=True)
    )
    session.add(
        OneTimeCode(
            id=new_id(),
            phone=phone,
            purpose=purpose,
            code_hash=hash_code(runtime.settings.secret_key, phone, code),
            attempts=0,
            used=False,
            created_at=now,
            expires_at=now + timedelta(seconds=runtime.settings.otp_ttl_seconds),
        )
    )
    await session.flush()
    # Queued with the code in this transaction; the sms.send job texts it after the commit.
    await sms.send(session, phone, f"Hotline code {code} (valid 5 minutes)", purpose="otp")


async def confirm_code(
    runtime: Runtime, raw_phone: Any, code: Any, pin: Any, *, gate: Throttle, address: str
) -> Customer:
    """Check the code and set the PIN (creating the customer when new). The attempt counter is
    written in its own transaction so a wrong code counts even though the request fails."""
    now = runtime.clock.now()
    await gate.hit_address(address, now)
    phone = phone_or_422(runtime, raw_phone)
    if not isinstance(code, str) or not isinstance(pin, str):
        raise ValidationFailed.field("code", "code and pin must be strings")
    reason = pin_problem(pin, phone=phone)
    if reason:
        raise ValidationFailed.field("pin", reason)
    async with runtime.sessions() as session:
        async with session.begin():
            otp = await session.scalar(
                select(OneTimeCode)
                .where(OneTimeCode.phone == phone, OneTimeCode.used.is_(False))
                .order_by(OneTimeCode.created_at.desc())
                .limit(1)
                .with_for_update()
            )
            valid = (
                otp is not None
                and otp.expires_at > now
                and otp.attempts < runtime.settings.otp_max_attempts
            )
            if otp is None or not valid:
                raise InvalidCredentials("the code is wrong or expired")
            if not secrets.compare_digest(
                otp.code_hash, hash_code(runtime.settings.secret_key, phone, code)
            ):
                otp.attempts += 1
                failed = True
            else:
                otp.used = True
                failed = False
        if failed:
            raise InvalidCredentials("the code is wrong or expired")
        async with session.begin():
            customer = await find_customer_by_phone(session, phone)
            if customer is None:
                customer = await create_customer(runtime, session, phone=phone)
            await change_pin(
                runtime,
                session,
                customer,
                pin,
                gate=gate,
                address=address,
                actor=f"customer:{customer.id}",
                channel="sms",
            )
        return customer
