"""Against live servers: two uvicorn processes over one database and one Redis take turns on
the steps of one call (the provider may reach any process), and `hotline call --url` walks a
call on a running server, signed with the server's provider token."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner

from api.cli import main
from api.voice_demo import Caller, new_call_sid
from core.settings import Settings
from tests.auth_fixtures import TestCustomer
from tests.integration.commerce.servers import settings_env, uvicorn_servers

from .conftest import PUBLIC, TOKEN

pytestmark = pytest.mark.slow


async def alternate(urls: list[str], customer: TestCustomer) -> list[str]:
    """One call, its steps sent to the two processes in turn."""
    sid = new_call_sid()
    async with httpx.AsyncClient(base_url=urls[0]) as a, httpx.AsyncClient(base_url=urls[1]) as b:
        one, two = (
            Caller(c, public_base=PUBLIC, auth_token=TOKEN, phone=customer.phone, call_sid=sid)
            for c in (a, b)
        )
        first = await one.dial()
        asked = await two.press(first, "1")
        told = await one.press(asked, customer.pin + "#")
        queued = await two.press(told, "0")
        assert await one.hang_up("completed", duration=12) == 204
    return [first.text, asked.text, told.text, queued.enqueued or ""]


def test_two_live_processes_take_turns_on_one_call(
    voice_settings: Settings, customer: TestCustomer
) -> None:
    extra = {"HOTLINE_TWILIO_AUTH_TOKEN": TOKEN}
    with uvicorn_servers(voice_settings, count=2, extra_env=extra) as urls:
        heard = asyncio.run(alternate(urls, customer))
        first, asked, told, queued = heard
        assert "人工服务请按0" in first and "服务密码" in asked
        assert "您目前没有订单" in told and queued == "delivery"

        env = {**settings_env(voice_settings), "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN}
        out = CliRunner().invoke(
            main,
            ["call", "--url", urls[1], "--from", customer.phone, "--keys", f"4,{customer.pin}"],
            env=env,
        )
        assert out.exit_code == 0, out.output
        assert "zh-CN: 您没有处理中的投诉。" in out.output and "(hung up;" in out.output
