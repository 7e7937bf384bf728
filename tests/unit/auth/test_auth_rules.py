"""Pure rules: PIN/password strength, delays, tokens, the throttle (in-memory and Redis),
the Twilio request shape, phone normalisation property."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth import tokens
from auth.domain import failure_delay, password_problem, pin_problem
from auth.hashing import hash_secret, verify_secret
from auth.throttle import AccountLocked, Throttle
from core.errors import Throttled, Unauthorized
from core.phone import normalise_phone
from core.principal import Principal
from core.sms import TwilioSmsProvider

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "pin",
    [
        "111111",
        "123456",
        "654321",
        "12345",
        "1234567",
        "12a456",
        "１２３４５６",
        "520520",
        "121212",
        "138001",
    ],
)
def test_weak_pins_refused_with_reason(pin: str) -> None:
    assert pin_problem(pin, phone="+8613800138001")


@pytest.mark.parametrize("pin", ["274915", "508317", "739164"])
def test_good_pins_pass(pin: str) -> None:
    assert pin_problem(pin, phone="+8613800138000") is None


@pytest.mark.parametrize(
    "pin",
    # YYMMDD, DDMMYY, MMDDYY, YYYYMM, MMYYYY; 29 Feb of a leap year; 2000s
    ["900615", "150690", "061590", "199006", "061990", "000229", "290200", "201512", "122015"],
)
def test_dates_refused_with_reason(pin: str) -> None:
    assert pin_problem(pin, phone="+8613800138000") == "the PIN must not be a date"


@pytest.mark.parametrize("pin", ["274915", "583016", "691427", "994732", "873946"])
def test_non_dates_pass(pin: str) -> None:
    # e.g. 994732: no month 47/32, no day 99/94, no year 19xx/20xx in either half
    assert pin_problem(pin, phone="+8613800138000") is None


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)))
def test_every_date_pattern_is_refused(day: date) -> None:
    yy, mm, dd, yyyy = f"{day.year % 100:02d}", f"{day.month:02d}", f"{day.day:02d}", str(day.year)
    for pin in (yy + mm + dd, dd + mm + yy, mm + dd + yy, yyyy + mm, mm + yyyy):
        assert pin_problem(pin) is not None, pin


def test_password_rules() -> None:
    assert password_problem("short")
    assert password_problem("aaaaaaaaaaaaaaa")
    assert password_problem("a long enough passphrase") is None


def test_delays_grow_then_lock() -> None:
    delays = [failure_delay(n, delay_after=3, max_failures=10) for n in range(1, 11)]
    assert delays[:2] == [0, 0] and delays[-1] is None
    grown = [d for d in delays[2:-1] if d is not None]
    assert grown == sorted(grown) and grown[0] > 0


def test_argon2id_round_trip_and_dummy() -> None:
    h = hash_secret("test", "274915")
    assert h.startswith("$argon2id$")
    assert verify_secret("test", h, "274915") and not verify_secret("test", h, "274916")
    assert not verify_secret("test", None, "274915")


def test_production_params_meet_rfc9106() -> None:
    from auth.hashing import hasher

    h = hasher("production")
    assert (h.memory_cost, h.time_cost, h.parallelism) == (65536, 3, 4)


def test_token_round_trip_and_refusals() -> None:
    who = Principal("agent", "a1", frozenset({"finance"}))
    tok, ttl = tokens.issue("k" * 40, who, version=3, now=NOW, minutes=15)
    assert ttl == 900
    assert tokens.decode("k" * 40, tok, now=NOW) == (who, 3)
    with pytest.raises(Unauthorized):
        tokens.decode("k" * 40, tok, now=NOW + timedelta(minutes=16))
    with pytest.raises(Unauthorized):
        tokens.decode("x" * 40, tok, now=NOW)


async def _exercise(throttle: Throttle) -> None:
    phone = f"+8613{uuid.uuid4().int % 10**9:09d}"
    for _ in range(2):
        await throttle.check(phone, NOW)
        assert not await throttle.failure(phone, NOW)
    await throttle.failure(phone, NOW)
    with pytest.raises(Throttled) as err:
        await throttle.check(phone, NOW)
    assert err.value.retry_after >= 1
    await throttle.check("+8613999999999", NOW)  # another number is independent
    later = NOW + timedelta(hours=1)
    while not await throttle.failure(phone, later):
        pass
    with pytest.raises(AccountLocked):
        await throttle.check(phone, later + timedelta(days=3))
    await throttle.unlock(phone)
    await throttle.check(phone, later)
    for _ in range(3):
        await throttle.hit_address("10.1.1.1", NOW)
    with pytest.raises(Throttled):
        await throttle.hit_address("10.1.1.1", NOW)
    await throttle.hit_address("10.1.1.2", NOW)


async def test_throttle_in_memory() -> None:
    await _exercise(Throttle(None, "mem", delay_after=3, max_failures=6, ip_limit_per_minute=3))


async def test_throttle_in_redis() -> None:
    import redis.asyncio as aioredis

    r = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        await _exercise(
            Throttle(
                r, f"t{uuid.uuid4().hex[:8]}", delay_after=3, max_failures=6, ip_limit_per_minute=3
            )
        )
    finally:
        await r.aclose()


async def test_twilio_request_shape() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM123"})

    sender = TwilioSmsProvider("AC1", "tok", "+15005550006", transport=httpx.MockTransport(handler))
    assert await sender.deliver("+8613800138000", "code 1") == "SM123"
    req = seen[0]
    assert req.url.path == "/2010-04-01/Accounts/AC1/Messages.json"
    assert req.headers["authorization"].startswith("Basic ")
    form = dict(httpx.QueryParams(req.content.decode()))
    assert form == {"To": "+8613800138000", "From": "+15005550006", "Body": "code 1"}


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.sampled_from(["138", "139", "150", "186", "199"]),
    rest=st.integers(0, 10**8 - 1),
    style=st.sampled_from(["{p}{r}", "+86 {p} {r}", "0086-{p}-{r}", "({p}) {r}"]),
)
def test_phone_normalises_to_one_e164(prefix: str, rest: int, style: str) -> None:
    digits = f"{rest:08d}"
    e164 = normalise_phone(style.format(p=prefix, r=digits), "CN")
    assert e164 == f"+86{prefix}{digits}"
    assert normalise_phone(e164, "CN") == e164


async def test_attempts_are_counted_before_verifying_in_memory() -> None:
    throttle = Throttle(None, "mem", delay_after=3, max_failures=3, ip_limit_per_minute=3)
    numbers = [await throttle.attempt("+8613800000001", NOW) for _ in range(3)]
    assert numbers == [1, 2, 3]  # three in flight, none verified yet
    with pytest.raises(AccountLocked):
        await throttle.attempt("+8613800000001", NOW)
    await throttle.success("+8613800000001")  # one of them was right: the run is cleared
    assert await throttle.attempt("+8613800000001", NOW) == 1


async def test_code_sending_window_in_memory() -> None:
    throttle = Throttle(None, "mem", delay_after=3, max_failures=3, ip_limit_per_minute=3)
    at = NOW
    for _ in range(5):
        await throttle.code_sent("+8613800000002", at)
        with pytest.raises(Throttled):
            await throttle.code_sent("+8613800000002", at + timedelta(seconds=59))
        at += timedelta(seconds=60)
    with pytest.raises(Throttled) as err:
        await throttle.code_sent("+8613800000002", at)
    assert err.value.retry_after == 3600 - 5 * 60
    await throttle.code_sent("+8613800000002", NOW + timedelta(hours=1))


def test_a_token_verified_once_still_expires_and_a_tampered_copy_is_still_refused() -> None:
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    who = Principal("customer", uuid.uuid4().hex)
    token, _ = tokens.issue("s" * 40, who, version=3, now=now, minutes=15)
    assert tokens.decode("s" * 40, token, now=now) == (who, 3)
    assert tokens.decode("s" * 40, token, now=now + timedelta(minutes=1)) == (who, 3)  # cached
    with pytest.raises(Unauthorized):
        tokens.decode("s" * 40, token, now=now + timedelta(minutes=16))
    with pytest.raises(Unauthorized):
        tokens.decode("other-secret" * 4, token, now=now)
    with pytest.raises(Unauthorized):
        tokens.decode("s" * 40, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), now=now)
