"""`hotline dead-letters list|replay` and `hotline partners` against the test database."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.runtime import Runtime
from core.settings import Settings
from fulfillment import FulfillmentContext, Shipment, handle_order_paid
from tests.integration.fulfillment.conftest import StubOrders, drain
from tests.partner_server import PartnerServer


def _env(settings: Settings) -> dict[str, str]:
    return {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_SECRET_KEY": settings.secret_key,
        "HOTLINE_REDIS_URL": "",
    }


async def test_dead_letters_listed_and_replayed_from_the_cli(
    settings: Settings,
    jobs_runtime: Runtime,
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from api.cli import main

    for key, value in _env(settings).items():
        monkeypatch.setenv(key, value)
    partner_server.behaviour.fail_first = 100
    snap = orders.paid()
    await handle_order_paid(ctx, snap.order_id)
    await drain(ctx)
    async with jobs_runtime.sessions() as session:
        shipment = await session.scalar(select(Shipment).where(Shipment.order_id == snap.order_id))
    assert shipment is not None and shipment.dead_lettered
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, main, ["dead-letters", "list"])
    assert listed.exit_code == 0, listed.output
    line = next(x for x in listed.output.splitlines() if shipment.id in x)
    dead_id = line.split()[0]
    replayed = await asyncio.to_thread(runner.invoke, main, ["dead-letters", "replay", dead_id])
    assert replayed.exit_code == 0 and "queued" in replayed.output
    again = await asyncio.to_thread(runner.invoke, main, ["dead-letters", "replay", dead_id])
    assert again.exit_code == 1 and "already replayed" in again.output.lower()
    partner_server.behaviour.fail_first = 0
    await drain(ctx)
    async with jobs_runtime.sessions() as session:
        assert (await session.get_one(Shipment, shipment.id)).status == "dispatched"


async def test_partners_add_and_list(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import main

    for key, value in _env(settings).items():
        monkeypatch.setenv(key, value)
    code = f"c{uuid.uuid4().hex[:8]}"
    runner = CliRunner()
    args = [
        "partners",
        "add",
        "--code",
        code,
        "--name",
        "SF",
        "--endpoint-url",
        "https://sf.example/dispatch",
        "--secret",
        "x" * 20,
        "--cost",
        "1200",
    ]
    added = await asyncio.to_thread(runner.invoke, main, args)
    assert added.exit_code == 0, added.output
    bad = await asyncio.to_thread(
        runner.invoke, main, ["partners", "add", "--code", "y", "--name", "n", "--secret", "short"]
    )
    assert bad.exit_code == 1 and "error:" in bad.output
    listed = await asyncio.to_thread(runner.invoke, main, ["partners", "list"])
    assert code in listed.output
