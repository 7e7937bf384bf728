"""The SMS channel on the embedded defaults (`make run`: SQLite, the sink, no Twilio token),
driven by `hotline sms-send` as a person trying the demo would: a booking, a wrong PIN (whose
miss is recorded in a transaction of its own while SQLite's one writer is free), a carrier
billing payment, STATUS, and the pay link of CARD off without a card gateway."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import auth
import commerce
import payments
from api import (
    admin_cli,  # noqa: F401 (registers the commands)
    cli_group,
)
from api.migrate import upgrade
from core.money import Money
from core.runtime import Runtime
from tests.conftest import make_test_settings

PIN = "274915"
PHONE = "+8613912345678"


def _prepare(url: str) -> str:
    async def go() -> str:
        rt = Runtime.build(make_test_settings(url, redis_url=""))
        now = rt.clock.now()
        try:
            async with rt.sessions() as s, s.begin():
                customer = await auth.create_customer(
                    rt, s, phone=PHONE, pin=PIN, locale="en", name="Demo"
                )
                await commerce.create_offer(
                    s,
                    kind="event",
                    title="Jay Chou",
                    venue="Shanghai Stadium",
                    starts_at=now + timedelta(days=9),
                    price=Money(38000, "CNY"),
                    capacity=10,
                    now=now,
                    code="JAY2026",
                )
            async with rt.sessions() as s, s.begin():
                await payments.top_up(
                    s, customer.id, 100_000, reference="t", actor="system", currency="CNY", now=now
                )
        finally:
            await rt.close()
        return customer.id

    return asyncio.run(go())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_sms_send_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    _prepare(url)
    env = {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_REDIS_URL": "",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_TWILIO_AUTH_TOKEN": "",
    }

    def text(body: str) -> str:
        result = CliRunner().invoke(cli_group.main, ["sms-send", "--from", PHONE, body], env=env)
        assert result.exit_code == 0, result.output
        return result.output.strip().splitlines()[-1]  # after the log line

    reply = text("BOOK JAY2026 2")
    assert "760 + booking fee 5 + delivery 0 = 765 CNY" in reply, reply
    number = re.search(r"Order (\w{8})", reply).group(1)  # type: ignore[union-attr]
    assert text(f"PAY {number} 000000").startswith("PIN not right")
    assert text(f"PAY {number} {PIN}") == (
        f"Order {number}: 765 CNY charged to your phone bill. Tickets follow by SMS."
    )
    assert text("STATUS").startswith(f"{number} paid 765")
    assert text(f"CARD {number}") == f"Order {number} is already paid."
    assert text("ＨＥＬＰ").startswith("Hotline SMS:")
