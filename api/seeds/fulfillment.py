"""Demo seed for the fulfillment room (idempotent): a courier, 中国邮政 EMS, whose endpoint is
the demo courier the app itself serves in demo mode (api/demo_courier.py), or
HOTLINE_DEMO_COURIER_URL when set (e.g. `python -m tests.partner_server` to see retries).
The built-in e-ticket partner (codes by SMS) comes from migration 0009, in every database."""

from __future__ import annotations

import os

from sqlalchemy import select, update

from core.runtime import Runtime
from fulfillment import Partner, PartnerIn, register_partner

DEMO_PARTNER_SECRET = "demo-partner-secret-change-me"  # noqa: S105 - demo mode only
# Where earlier seeds pointed `ems`: a separate process nobody had started.
OLD_COURIER_URL = "http://127.0.0.1:8099/dispatch"


def courier_url(runtime: Runtime) -> str:
    return os.environ.get("HOTLINE_DEMO_COURIER_URL") or (
        runtime.settings.public_base_url.rstrip("/") + "/demo/courier/dispatch"
    )


async def seed_demo(runtime: Runtime) -> list[str]:
    url = courier_url(runtime)
    wanted = [
        PartnerIn("eticket", "电子票 E-ticket (SMS)", "eticket", "", DEMO_PARTNER_SECRET),
        PartnerIn("ems", "中国邮政 EMS", "http", url, DEMO_PARTNER_SECRET, None, 1500),
    ]
    async with runtime.sessions() as session, session.begin():
        for data in wanted:
            if await session.scalar(select(Partner.id).where(Partner.code == data.code)):
                continue
            await register_partner(
                session, data, currency=runtime.settings.currency, now=runtime.clock.now()
            )
        # The courier follows the port the demo is served on this time.
        await session.execute(
            update(Partner)
            .where(Partner.code == "ems", Partner.endpoint_url != url)
            .where(Partner.secret == DEMO_PARTNER_SECRET)
            .values(endpoint_url=url)
        )
    return [f"partners: eticket (SMS), ems courier -> {url}"]
