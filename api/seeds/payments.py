"""Demo seed for the payments room (idempotent): every demo customer gets a phone account
with a balance and a credit limit, so carrier billing works out of the box."""

from __future__ import annotations

from sqlalchemy import select

from core.runtime import Runtime
from payments import carrier

DEMO_BALANCE = 50_000  # 500.00 in minor units
DEMO_CREDIT_LIMIT = 20_000


async def seed_demo(runtime: Runtime) -> list[str]:
    try:
        from auth import Customer  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return ["payments: no customers to give phone accounts yet"]
    now = runtime.clock.now()
    opened = 0
    async with runtime.sessions() as session, session.begin():
        for customer_id in list(await session.scalars(select(Customer.id))):
            await carrier.top_up(
                session,
                customer_id,
                DEMO_BALANCE,
                reference=f"demo-seed:{customer_id}",
                actor="system:seed",
                currency=runtime.settings.currency,
                now=now,
                credit_limit=DEMO_CREDIT_LIMIT,
            )
            opened += 1
    return [
        f"payments: {opened} phone accounts with 500.00 {runtime.settings.currency} "
        "balance and 200.00 credit"
    ]
