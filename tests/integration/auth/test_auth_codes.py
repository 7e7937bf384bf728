"""One-time codes: 1 a minute and 5 an hour per number, 5-minute expiry, 5 tries per code.
Time is travelled with the runtime's TravelClock."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.sms import SmsMessage
from tests.auth_fixtures import fixture_sessions, random_cn_mobile


async def latest_code(runtime: Any, phone: str) -> str:
    async with fixture_sessions(runtime)() as s:
        text = await s.scalar(
            select(SmsMessage.body)
            .where(SmsMessage.to == phone)
            .order_by(SmsMessage.created_at.desc())
            .limit(1)
        )
    found = re.search(r"\b(\d{6})\b", text or "")
    assert found, text
    return found.group(1)


async def _send(client: Any, phone: str) -> Any:
    return await client.post("/v1/auth/enrollment", json={"phone": phone})


async def _confirm(client: Any, phone: str, code: str, pin: str = "508317") -> Any:
    return await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": phone, "code": code, "pin": pin}
    )


async def test_five_codes_an_hour_one_a_minute(client, clock) -> None:
    phone, other = random_cn_mobile(), random_cn_mobile()
    for n in range(5):
        assert (await _send(client, phone)).status_code == 202, n
        too_soon = await _send(client, phone)
        assert too_soon.status_code == 429 and 1 <= int(too_soon.headers["Retry-After"]) <= 60
        clock.advance(seconds=61)
    sixth = await _send(client, phone)
    assert sixth.status_code == 429 and "hour" in sixth.json()["detail"]
    wait = int(sixth.headers["Retry-After"])
    assert 60 < wait <= 3600
    assert (await _send(client, other)).status_code == 202  # another number is independent
    clock.advance(seconds=wait - 5)
    assert (await _send(client, phone)).status_code == 429
    clock.advance(seconds=6)  # the first code of the hour has left the window
    assert (await _send(client, phone)).status_code == 202


async def test_code_expires_after_five_minutes(client, runtime, clock) -> None:
    early, late = random_cn_mobile(), random_cn_mobile()
    assert (await _send(client, early)).status_code == 202
    assert (await _send(client, late)).status_code == 202
    ttl = runtime.settings.otp_ttl_seconds
    assert ttl == 300
    clock.advance(seconds=ttl - 1)
    assert (await _confirm(client, early, await latest_code(runtime, early))).status_code == 200
    clock.advance(seconds=2)
    expired = await _confirm(client, late, await latest_code(runtime, late))
    assert expired.status_code == 401


async def test_right_code_refused_after_five_wrong_tries(client, runtime, clock) -> None:
    phone = random_cn_mobile()
    assert (await _send(client, phone)).status_code == 202
    code = await latest_code(runtime, phone)
    wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
    for _ in range(runtime.settings.otp_max_attempts):
        assert (await _confirm(client, phone, wrong)).status_code == 401
    assert (await _confirm(client, phone, code)).status_code == 401
    clock.advance(seconds=61)  # a new code works: only the exhausted one is dead
    assert (await _send(client, phone)).status_code == 202
    assert (await _confirm(client, phone, await latest_code(runtime, phone))).status_code == 200
