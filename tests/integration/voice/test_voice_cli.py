"""`hotline call` (the demo's telephone): drives the webhooks in-process, signed with a
one-off token, and prints what the caller hears; `call-answer` and `call-wrap-up` finish it."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from api.cli import main
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, TestCustomer, make_customer


@pytest.fixture
async def english_customer(runtime: Runtime) -> TestCustomer:
    return await make_customer(runtime, locale="en")


def test_hotline_call_prints_what_the_caller_hears(
    runtime: Runtime, english_customer: TestCustomer, agent: TestAgent, supervisor: TestAgent
) -> None:
    """Sync: the command runs its own event loop, as it does from a shell."""
    customer = english_customer
    env = {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": runtime.settings.database_url,
        "HOTLINE_REDIS_URL": "",  # the demo's memory store
        "HOTLINE_TWILIO_AUTH_TOKEN": "",  # the command needs none in-process
        "HOTLINE_SECRET_KEY": runtime.settings.secret_key,
    }
    cli = CliRunner()
    keys = f"1,{customer.pin}#,0"
    out = cli.invoke(main, ["call", "--from", customer.phone, "--keys", keys, "--stay"], env=env)
    assert out.exit_code == 0, out.output
    assert "en-US: Welcome to Hotline." in out.output
    assert "en-US: Please enter your six-digit service PIN" in out.output
    assert "en-US: You have no orders yet." in out.output
    assert "(waiting for an agent in the delivery queue)" in out.output
    assert customer.pin not in out.output.replace(f"[keys: {customer.pin}#]", "")
    sid = re.search(r"call (CA[0-9a-f]{32}) waits", out.output).group(1)
    answered = cli.invoke(main, ["call-answer", sid, "--agent-id", agent.id], env=env)
    assert answered.exit_code == 0 and "answered by" in answered.output, answered.output
    wrapped = cli.invoke(
        main, ["call-wrap-up", sid, "--agent-id", agent.id, "--code", "order-status"], env=env
    )
    assert wrapped.exit_code == 0 and "order-status" in wrapped.output, wrapped.output
    again = cli.invoke(main, ["call-answer", sid, "--agent-id", agent.id], env=env)
    assert again.exit_code == 0  # the same agent again: the call as it is
    other = cli.invoke(main, ["call-answer", sid, "--agent-id", supervisor.id], env=env)
    assert other.exit_code == 1 and "refused" in other.output
