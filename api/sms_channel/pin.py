"""The PIN of PAY and CANCEL: the sender's number alone is not proof. It goes through auth's
own check (auth.check_pin), so it counts toward the same per-number delays and lock as a web
login or an agent's caller verification, is audited (event `sms_pin`, channel `sms`) and is
compared with the argon2 hash only; it is never echoed, logged or stored."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import auth
from api.composition import Services
from core.errors import DomainError, InvalidCredentials, Throttled

from .context import Answer
from .texts import text


async def check(
    services: Services, session: AsyncSession, phone: str, pin: str, language: str
) -> Answer | None:
    """None when the PIN is right; else the reply (nothing else is done for this text). Call
    it before the handling transaction writes anything: a miss is recorded in a transaction
    of its own (the lock must outlive this text's), and SQLite has one writer."""
    try:
        await auth.check_pin(
            services.runtime,
            session,
            phone,
            pin,
            gate=services.throttle,
            address=f"sms:{phone}",  # the per-address window: per number for texts
            actor="sms",
            channel="sms",
            event="sms_pin",
        )
    except auth.AccountLocked:
        return Answer(text("locked", language), "pin_locked")
    except Throttled as exc:
        return Answer(text("pin_wait", language, seconds=exc.retry_after), "pin_throttled")
    except InvalidCredentials:
        return Answer(text("pin_wrong", language), "pin_wrong")
    except DomainError:  # counters unavailable: no verdict, nothing done
        return Answer(text("busy", language), "busy")
    return None
