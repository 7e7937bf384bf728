"""Demo seed for the fulfillment room (idempotent): the built-in e-ticket partner (codes by
SMS) and a courier, 邮政 (EMS), pointed at HOTLINE_DEMO_COURIER_URL (by default a local
partner you can start with `python -m tests.partner_server`; until one answers, courier
dispatches retry and then show up in `hotline dead-letters list`)."""

from __future__ import annotations

import os

from sqlalchemy import select

from core.runtime import Runtime
from fulfillment import Partner, PartnerIn, register_partner

DEMO_PARTNER_SECRET = "demo-partner-secret-change-me"  # noqa: S105 - demo mode only


async def seed_demo(runtime: Runtime) -> list[str]:
    courier_url = os.environ.get("HOTLINE_DEMO_COURIER_URL", "http://127.0.0.1:8099/dispatch")
    wanted = [
        PartnerIn("eticket", "电子票 E-ticket (SMS)", "eticket", "", DEMO_PARTNER_SECRET),
        PartnerIn("ems", "中国邮政 EMS", "http", courier_url, DEMO_PARTNER_SECRET, None, 1500),
    ]
    added: list[str] = []
    async with runtime.sessions() as session, session.begin():
        for data in wanted:
            if await session.scalar(select(Partner.id).where(Partner.code == data.code)):
                continue
            await register_partner(
                session, data, currency=runtime.settings.currency, now=runtime.clock.now()
            )
            added.append(data.code)
    return [f"partners: eticket (SMS), ems -> {courier_url}"] if added else []
