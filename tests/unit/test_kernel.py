"""The shared kernel: settings validation, money, phones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationFailed
from core.money import CurrencyMismatch, Money
from core.phone import InvalidPhone, normalise_phone
from core.settings import DEMO_SECRET, SettingsError, load_settings


def test_defaults_are_the_embedded_demo() -> None:
    s = load_settings(environ={})
    assert s.env == "demo" and s.database_url.startswith("sqlite+aiosqlite")
    assert (s.default_region, s.currency, s.timezone) == ("CN", "CNY", "Asia/Shanghai")


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("HOTLINE_PORT", "eighty"),
        ("HOTLINE_PORT", "70000"),
        ("HOTLINE_DATABASE_URL", "mysql://x"),
        ("HOTLINE_REDIS_URL", "http://x"),
        ("HOTLINE_DEFAULT_REGION", "XX"),
        ("HOTLINE_CURRENCY", "yuan"),
        ("HOTLINE_TIMEZONE", "Mars/Olympus"),
        ("HOTLINE_HOLD_MINUTES", "0"),
        ("HOTLINE_ENV", "staging"),
    ],
)
def test_bad_variable_is_named(var: str, value: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(environ={var: value})
    assert var in str(err.value)


def test_production_refuses_demo_secret() -> None:
    env = {
        "HOTLINE_ENV": "production",
        "HOTLINE_DATABASE_URL": "postgresql+asyncpg://db/x",
        "HOTLINE_REDIS_URL": "redis://r",
        "HOTLINE_SMS_SENDER": "twilio",
        "HOTLINE_TWILIO_ACCOUNT_SID": "AC0123",
        "HOTLINE_TWILIO_AUTH_TOKEN": "twilio-token",
        "HOTLINE_TWILIO_FROM": "+8610086",
    }
    with pytest.raises(SettingsError, match="HOTLINE_SECRET_KEY"):
        load_settings(environ=env)
    with pytest.raises(SettingsError, match="HOTLINE_SECRET_KEY"):
        load_settings(environ={**env, "HOTLINE_SECRET_KEY": DEMO_SECRET})
    ok = load_settings(environ={**env, "HOTLINE_SECRET_KEY": "k" * 40})
    assert ok.is_production


def test_money_is_integer_minor_units() -> None:
    assert Money(100, "CNY") + Money(50, "CNY") == Money(150, "CNY")
    assert Money(100, "CNY") * 3 == Money(300, "CNY")
    with pytest.raises(TypeError):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") + Money(1, "USD")


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "+86 138-0013-8000",
        "+86 138 0013 8000",
        "１３８００１３８０００",
        "0086 13800138000",
        "(+86) 138.0013.8000",
    ],
)
def test_people_formats_become_e164(typed: str) -> None:
    assert normalise_phone(typed, "CN") == "+8613800138000"


@pytest.mark.parametrize("bad", ["", "12345", "abc", "+86 1", "1" * 50, "+999 1234567"])
def test_invalid_numbers_refused(bad: str) -> None:
    with pytest.raises(InvalidPhone):
        normalise_phone(bad, "CN")


_mobile_prefixes = st.sampled_from(["138", "139", "150", "186", "177", "199"])


@given(
    prefix=_mobile_prefixes,
    rest=st.integers(0, 99_999_999),
    sep=st.sampled_from(["", " ", "-"]),
    intl=st.booleans(),
    wide=st.booleans(),
)
def test_phone_normalisation_property(
    prefix: str, rest: int, sep: str, intl: bool, wide: bool
) -> None:
    digits = f"{prefix}{rest:08d}"
    typed = sep.join([digits[:3], digits[3:7], digits[7:]])
    if intl:
        typed = "+86" + sep + typed
    if wide:
        typed = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in typed)
    e164 = normalise_phone(typed, "CN")
    assert e164 == "+86" + digits
    assert normalise_phone(e164, "US") == e164  # E.164 is a fixed point whatever the region


def test_keyset_page_carries_the_cursor_of_its_last_row_only_when_more_follow() -> None:
    from core.paging import decode_cursor, page_of

    at = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    rows = [(at, "c"), (at, "b"), (at, "a")]
    page = page_of(rows, 2, lambda r: r)  # keyset fetched limit + 1 rows
    assert page.items == rows[:2] and decode_cursor(page.next_cursor or "") == (at, "b")
    assert page_of(rows[:2], 2, lambda r: r).next_cursor is None


def test_a_cursor_not_made_by_us_is_a_validation_error_on_cursor() -> None:
    from core.paging import decode_cursor, encode_cursor

    with pytest.raises(ValidationFailed) as caught:
        decode_cursor("not-a-cursor")
    assert "cursor" in str(caught.value.errors)
    # a forged time far off would overflow when the driver converts it to UTC
    forged = encode_cursor(
        datetime(9999, 12, 31, 23, 59, tzinfo=timezone(-timedelta(hours=12))), "x"
    )
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(forged)
    assert "cursor" in str(caught.value.errors)


def test_the_twilio_sender_needs_its_account_at_start() -> None:
    with pytest.raises(SettingsError, match="HOTLINE_TWILIO_ACCOUNT_SID"):
        load_settings(environ={"HOTLINE_SMS_SENDER": "twilio"})
    ok = load_settings(
        environ={
            "HOTLINE_SMS_SENDER": "twilio",
            "HOTLINE_TWILIO_ACCOUNT_SID": "AC0123",
            "HOTLINE_TWILIO_AUTH_TOKEN": "twilio-token",
            "HOTLINE_TWILIO_FROM": "+8610086",
        }
    )
    assert ok.twilio_base_url == "https://api.twilio.com"
