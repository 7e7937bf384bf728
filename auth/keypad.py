"""Caller verification by keypad: the IVR asks the caller's PIN by DTMF, so the agent who takes
the call never hears it and does not ask again.

The PIN goes through `check_pin`, the very check of every login and of an agent's
verification: the same per-number throttle (growing delays, then the lock on the customer
row) and the same audit rows (channel `ivr`). The verification row it makes has no agent yet:
the agent who answers the call claims it (`claim_verification`), and from then on it is that
agent's verification for ordering on the caller's behalf, like one typed at the console.

The throttle's per-address window counts the calling number (`ivr:+86...`), not the client
address: every call reaches us from the voice provider's few addresses, and one window for all
of them would refuse every caller after the 60th PIN in a minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from auth.errors import CallerPinWrong
from auth.models import CallerVerification
from auth.service import check_pin
from auth.throttle import Throttle
from core.db import new_id
from core.errors import NotFound
from core.runtime import Runtime

IVR = "ivr"


async def verify_by_keypad(
    runtime: Runtime, session: Any, phone: str, pin: str, *, gate: Throttle, call_sid: str
) -> CallerVerification:
    """Check the PIN typed on the keypad; a miss raises CallerPinWrong (counted), a throttled
    or locked number Throttled/AccountLocked. Never logs or stores the digits."""
    customer = await check_pin(
        runtime,
        session,
        phone,
        pin,
        gate=gate,
        address=f"{IVR}:{phone}",
        actor=f"{IVR}:{call_sid[:60]}",
        channel=IVR,
        event="verification",
        wrong=CallerPinWrong,
    )
    now = runtime.clock.now()
    verification = CallerVerification(
        id=new_id(),
        customer_id=customer.id,
        agent_id=None,
        channel=IVR,
        call_sid=call_sid[:64],
        created_at=now,
        expires_at=now + timedelta(minutes=runtime.settings.verification_minutes),
    )
    session.add(verification)
    await session.flush()
    return verification


async def claim_verification(
    session: Any, verification_id: str, agent_id: str, now: datetime
) -> CallerVerification:
    """The agent who answered a keypad-verified call takes its verification over, renewed for
    `HOTLINE_VERIFICATION_MINUTES` from the answer. Only an unclaimed keypad verification that
    is still good can be claimed: one that lapsed while the caller waited is not renewed (the
    agent asks for the PIN, as the console says), so the API and the console agree. Claiming
    it twice by the same agent changes nothing."""
    found: CallerVerification | None = await session.get(CallerVerification, verification_id)
    if found is None or found.channel != IVR:
        raise NotFound("no such keypad verification")
    if found.agent_id is None:
        lifetime = found.expires_at - found.created_at
        await session.execute(
            update(CallerVerification)
            .where(
                CallerVerification.id == found.id,
                CallerVerification.agent_id.is_(None),
                CallerVerification.expires_at > now,
            )
            .values(agent_id=agent_id, expires_at=now + lifetime)
        )
        await session.refresh(found)
    return found


async def get_verification(session: Any, verification_id: str) -> CallerVerification | None:
    found: CallerVerification | None = await session.get(CallerVerification, verification_id)
    return found


_CALLER = "SELECT id, locale FROM customers WHERE phone = $1"


async def caller_account_on(driver: Any, phone: str) -> tuple[str, str] | None:
    """(customer id, locale) of a calling number, on an asyncpg connection (core/drivers.py):
    it runs on every call's first webhook."""
    row = await driver.fetchrow(_CALLER, phone)
    return (str(row[0]), str(row[1])) if row is not None else None
