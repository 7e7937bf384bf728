"""Commerce settings: the oversell canary's switch never reaches a real deployment."""

from __future__ import annotations

import pytest

from commerce.guards import guarded
from core.settings import SettingsError, load_settings

PRODUCTION = {
    "HOTLINE_ENV": "production",
    "HOTLINE_SECRET_KEY": "x" * 40,
    "HOTLINE_DATABASE_URL": "postgresql+asyncpg://h@db/hotline",
    "HOTLINE_REDIS_URL": "redis://cache:6379/0",
    "HOTLINE_SMS_SENDER": "twilio",
    "HOTLINE_TWILIO_ACCOUNT_SID": "AC0123",
    "HOTLINE_TWILIO_AUTH_TOKEN": "twilio-token",
    "HOTLINE_TWILIO_FROM": "+8610086",
}


@pytest.mark.parametrize("env", [PRODUCTION, {"HOTLINE_ENV": "demo"}])
def test_the_unguarded_hold_switch_is_refused_outside_tests(env: dict[str, str]) -> None:
    load_settings(environ=env)  # the environment itself is fine
    with pytest.raises(SettingsError, match="HOTLINE_TEST_UNGUARDED_HOLDS"):
        load_settings(environ={**env, "HOTLINE_TEST_UNGUARDED_HOLDS": "1"})


def test_the_switch_turns_the_guard_off_only_in_the_test_env() -> None:
    assert guarded(load_settings(environ={"HOTLINE_ENV": "test"}))
    assert not guarded(
        load_settings(environ={"HOTLINE_ENV": "test", "HOTLINE_TEST_UNGUARDED_HOLDS": "1"})
    )
    with pytest.raises(SettingsError, match="0 or 1"):
        load_settings(environ={"HOTLINE_ENV": "test", "HOTLINE_TEST_UNGUARDED_HOLDS": "2"})


def test_the_e_ticket_fee_is_free_by_default_configurable_and_never_negative() -> None:
    assert load_settings(environ={}).eticket_fee == 0
    assert load_settings(environ={"HOTLINE_ETICKET_FEE": "300"}).eticket_fee == 300
    with pytest.raises(SettingsError, match="HOTLINE_ETICKET_FEE must not be negative"):
        load_settings(environ={"HOTLINE_ETICKET_FEE": "-1"})
