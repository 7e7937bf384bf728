"""Demo seed for the payments room (idempotent): every demo customer gets a phone account
with a balance and a credit limit, so carrier billing works out of the box."""

from __future__ import annotations

from sqlalchemy import select

import payments
from core.runtime import Runtime

# Enough for any single booking in the demo catalog (the dearest is 2160.00 plus fees) and a
# few more: a newcomer should not hit insufficient-credit on the first try.
DEMO_BALANCE = 1_000_000  # 10000.00 in minor units
DEMO_CREDIT_LIMIT = 200_000  # 2000.00


async def seed_demo(runtime: Runtime) -> list[str]:
    try:
        from auth import Customer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return ["payments: no customers to give phone accounts yet"]
    now = runtime.clock.now()
    opened = 0
    async with runtime.sessions() as session, session.begin():
        for customer_id in list(await session.scalars(select(Customer.id))):
            await payments.top_up(
                session,
                customer_id,
                DEMO_BALANCE,
                reference=f"demo-seed-2:{customer_id}",
                actor="system:seed",
                currency=runtime.settings.currency,
                now=now,
                credit_limit=DEMO_CREDIT_LIMIT,
            )
            opened += 1
    return [
        f"payments: {opened} phone accounts with {DEMO_BALANCE // 100}.00 "
        f"{runtime.settings.currency} balance and {DEMO_CREDIT_LIMIT // 100}.00 credit"
    ]
