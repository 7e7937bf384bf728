"""Production needs nothing from the demo seed: migrations alone give the built-in e-ticket
partner (else every paid e-ticket order is dead-lettered), and operators create customers
with a PIN from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.cli import main
from api.migrate import upgrade
from core.db import make_engine
from core.settings import Settings
from fulfillment import Partner
from tests.conftest import create_database, drop_database


async def _eticket_partners(url: str) -> list[tuple[str, str, bool]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(Partner.kind, Partner.delivery_method, Partner.active).where(
                    Partner.code == "eticket"
                )
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        await engine.dispose()


async def test_fresh_postgresql_has_the_eticket_partner_after_migrations() -> None:
    name, url = create_database("hotline_mig")
    try:
        await asyncio.to_thread(upgrade, url)
        assert await _eticket_partners(url) == [("eticket", "eticket", True)]
        await asyncio.to_thread(upgrade, url)  # re-running adds no second one
        assert len(await _eticket_partners(url)) == 1
    finally:
        drop_database(name)


async def test_fresh_sqlite_has_the_eticket_partner_after_migrations(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    await asyncio.to_thread(upgrade, url)
    assert await _eticket_partners(url) == [("eticket", "eticket", True)]


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_SECRET_KEY": settings.secret_key,
        "HOTLINE_REDIS_URL": "",
    }.items():
        monkeypatch.setenv(key, value)


async def test_cli_creates_a_customer_who_can_log_in(
    cli_env: None, client: AsyncTestClient[Litestar]
) -> None:
    phone = "+8613712345678"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["create-customer", "--phone", phone, "--name", "王芳", "--locale", "zh"],
        input="305817\n305817\n",
    )
    assert result.exit_code == 0, result.output
    assert f"customer {phone} created" in result.output
    r = await client.post("/v1/auth/token", json={"phone": phone, "pin": "305817"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("phone", "pin", "says"),
    [
        ("+8613712340001", "123456", "pin:"),
        ("+8613712340002", "111111", "pin:"),
        ("12345", "305817", "phone"),
    ],
)
async def test_cli_refuses_weak_pin_and_bad_phone(
    cli_env: None, phone: str, pin: str, says: str
) -> None:
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["create-customer", "--phone", phone, "--pin", pin]
    )
    assert result.exit_code == 1, result.output
    assert says in result.output and "created" not in result.output
