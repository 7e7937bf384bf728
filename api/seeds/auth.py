"""Demo seed for the auth room (idempotent): agents of every role and a few customers."""

from __future__ import annotations

from sqlalchemy import select

import auth
from core.runtime import Runtime

DEMO_PASSWORD = "hotline-demo-2026"  # noqa: S105 - demo data, printed on purpose
AGENTS = (
    ("agent", "agent"),
    ("supervisor", "supervisor"),
    ("finance", "finance"),
    ("admin", "admin"),
)
CUSTOMERS = (
    ("+8613800138000", "张伟", "zh", "274915"),
    ("+8613900139000", "李娜", "zh", "583016"),
    ("+8618600186000", "Alex Chen", "en", "691427"),
)


async def seed_demo(runtime: Runtime) -> list[str]:
    lines = ["auth: agents (password) and customers (PIN)"]
    async with runtime.sessions() as session, session.begin():
        for username, role in AGENTS:
            found = await session.scalar(select(auth.Agent).where(auth.Agent.username == username))
            if found is None:
                await auth.create_agent(
                    runtime,
                    session,
                    username=username,
                    password=DEMO_PASSWORD,
                    roles=(role,),
                    display_name=f"Demo {role}",
                )
            lines.append(f"  agent    {username:<12} password {DEMO_PASSWORD}  role {role}")
        for phone, name, locale, pin in CUSTOMERS:
            if await auth.find_customer_by_phone(session, phone) is None:
                await auth.create_customer(
                    runtime, session, phone=phone, name=name, locale=locale, pin=pin
                )
            lines.append(f"  customer {phone} PIN {pin}  ({name})")
    return lines
