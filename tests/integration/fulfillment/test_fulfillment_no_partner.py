"""A paid order whose delivery method has no active partner is not lost: it lands in our
dead-letter list (admin API and CLI) instead of Dramatiq's own, the replay is refused while
there is still no partner, and once one is registered the replay dispatches it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select, update

import commerce
from core.runtime import Runtime
from core.settings import Settings
from fulfillment import CommerceOrders, FulfillmentContext, Partner, Shipment, handle_order_paid
from tests.integration.fulfillment.conftest import drain, only_partner
from tests.integration.fulfillment.test_fulfillment_with_commerce import _paid_courier_order
from tests.partner_server import PartnerServer

PROBLEM = "application/problem+json"


async def _no_courier(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Partner).where(Partner.delivery_method == "courier").values(active=False)
        )


async def test_paid_order_without_partner_is_dead_lettered_then_replayed(
    client: AsyncTestClient[Litestar],
    admin: Any,
    settings: Settings,
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    partner_server: PartnerServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.cli import main

    ctx.orders = CommerceOrders()
    await _no_courier(jobs_runtime)
    order_id = await _paid_courier_order(jobs_runtime)
    await drain(ctx)  # the order.paid job runs and must not raise (no Dramatiq retries)
    assert await handle_order_paid(ctx, order_id) == 0  # a duplicate job adds nothing

    r = await client.get("/v1/admin/dead-letters", headers=admin.headers)
    assert r.status_code == 200, r.text
    [dead] = [d for d in r.json() if d["order_id"] == order_id]
    assert dead["reason"] == "no_partner" and dead["shipment_id"] is None
    assert "courier" in dead["last_error"]
    async with jobs_runtime.sessions() as session:
        assert (await commerce.get_order(session, order_id)).status == "paid"
        none = await session.scalar(select(Shipment.id).where(Shipment.order_id == order_id))
        assert none is None

    for key, value in {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_SECRET_KEY": settings.secret_key,
        "HOTLINE_REDIS_URL": "",
    }.items():
        monkeypatch.setenv(key, value)
    listed = await asyncio.to_thread(CliRunner().invoke, main, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if x.startswith(dead["id"]))
    assert "no_partner" in line and f"order={order_id}" in line

    early = await client.post(f"/v1/admin/dead-letters/{dead['id']}/replay", headers=admin.headers)
    assert early.status_code == 409 and early.headers["content-type"].startswith(PROBLEM)
    assert early.json()["type"].endswith("no-partner")

    await only_partner(jobs_runtime, url=partner_server.url, secret=partner_server.secret)
    r = await client.post(f"/v1/admin/dead-letters/{dead['id']}/replay", headers=admin.headers)
    assert r.status_code == 200 and r.json()["replayed_at"], r.text
    await drain(ctx)
    async with jobs_runtime.sessions() as session:
        [shipment] = await session.scalars(select(Shipment).where(Shipment.order_id == order_id))
        assert shipment.status == "dispatched"
        assert (await commerce.get_order(session, order_id)).status == "fulfilling"
    assert len(partner_server.bodies_by_key()[shipment.id]) == 1
    r = await client.get("/v1/admin/dead-letters", headers=admin.headers)
    assert not [d for d in r.json() if d["order_id"] == order_id]
