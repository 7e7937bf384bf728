"""Brute force: growing delays, lock, OTP reset unlocks; numbers independent; enumeration-safe;
audit rows; revocation on PIN change."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

import auth
from tests.auth_fixtures import fixture_sessions, make_customer, random_cn_mobile

PROBLEM = "application/problem+json"


def slug(r: Any) -> str:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return str(r.json()["type"].rsplit("/", 1)[-1])


async def _login(client: Any, phone: str, pin: str) -> Any:
    return await client.post("/v1/auth/token", json={"phone": phone, "pin": pin})


async def _brute(client: Any, clock: Any, phone: str, misses: int) -> list[int]:
    statuses = []
    for _ in range(misses):
        r = await _login(client, phone, "000001")
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert int(r.headers["Retry-After"]) >= 1
            if slug(r) == "locked":
                break
            clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
            r = await _login(client, phone, "000001")
            statuses.append(r.status_code)
    return statuses


async def test_brute_force_locks_and_otp_reset_unlocks(client, runtime, clock) -> None:
    c = await make_customer(runtime)
    other = await make_customer(runtime)
    limit = runtime.settings.pin_max_failures
    statuses = await _brute(client, clock, c.phone, limit + 5)
    assert 429 in statuses  # delays grew before the lock
    r = await _login(client, c.phone, c.pin)
    assert r.status_code == 429 and slug(r) == "locked"  # even the right PIN
    clock.advance(minutes=600)
    assert slug(await _login(client, c.phone, c.pin)) == "locked"  # time does not lift it
    # the other number is untouched
    assert (await _login(client, other.phone, other.pin)).status_code == 200
    # reset by SMS code lifts the lock and revokes old tokens
    assert (await client.post("/v1/auth/enrollment", json={"phone": c.phone})).status_code == 202
    async with fixture_sessions(runtime)() as s:
        body = await s.scalar(
            select(auth.models.OneTimeCode.id).where(auth.models.OneTimeCode.phone == c.phone)
        )
        assert body
        from core.sms import SmsMessage

        text = await s.scalar(
            select(SmsMessage.body)
            .where(SmsMessage.to == c.phone)
            .order_by(SmsMessage.created_at.desc())
            .limit(1)
        )
    code = re.search(r"\b(\d{6})\b", text or "").group(1)  # type: ignore[union-attr]
    bad = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": c.phone, "code": code, "pin": "123456"}
    )
    assert bad.status_code == 422 and "PIN" in bad.json()["detail"]
    ok = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": c.phone, "code": code, "pin": "508317"}
    )
    assert ok.status_code == 200, ok.text
    assert (await _login(client, c.phone, "508317")).status_code == 200
    old = await client.get("/v1/me", headers=c.headers)
    assert old.status_code == 401  # revoked by the PIN change


async def test_enumeration_same_answer(client, runtime) -> None:
    c = await make_customer(runtime)
    wrong = await _login(client, c.phone, "000001")
    unknown = await _login(client, random_cn_mobile(), "000001")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert slug(wrong) == "invalid-credentials"


async def test_enrollment_resend_limited_and_wrong_codes_exhaust(client, runtime) -> None:
    phone = random_cn_mobile()
    assert (await client.post("/v1/auth/enrollment", json={"phone": phone})).status_code == 202
    again = await client.post("/v1/auth/enrollment", json={"phone": phone})
    assert again.status_code == 429 and "Retry-After" in again.headers
    for _ in range(runtime.settings.otp_max_attempts):
        r = await client.post(
            "/v1/auth/enrollment/confirm", json={"phone": phone, "code": "99999x", "pin": "508317"}
        )
        assert r.status_code == 401


async def test_new_number_enrolls_by_code(client, runtime) -> None:
    phone = random_cn_mobile()
    assert (await client.post("/v1/auth/enrollment", json={"phone": phone})).status_code == 202
    async with fixture_sessions(runtime)() as s:
        from core.sms import SmsMessage

        text = await s.scalar(select(SmsMessage.body).where(SmsMessage.to == phone))
    code = re.search(r"\b(\d{6})\b", text or "").group(1)  # type: ignore[union-attr]
    r = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": phone, "code": code, "pin": "508317"}
    )
    assert r.status_code == 200
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
    assert me.json()["kind"] == "customer"


async def test_failures_and_verifications_audited(client, runtime, agent) -> None:
    c = await make_customer(runtime)
    await _login(client, c.phone, "000001")
    r = await client.post(
        "/v1/callers/verify", json={"phone": c.phone, "pin": c.pin}, headers=agent.headers
    )
    assert r.status_code == 201
    async with fixture_sessions(runtime)() as s:
        rows = (
            await s.execute(
                select(auth.AuditEvent.event, auth.AuditEvent.outcome, auth.AuditEvent.actor).where(
                    auth.AuditEvent.subject.in_([c.phone, f"customer:{c.id}"])
                )
            )
        ).all()
    got = {(e, o) for e, o, _ in rows}
    assert ("login", "failure") in got and ("verification", "success") in got
    assert any(a == f"agent:{agent.id}" for _, _, a in rows)


async def test_agent_login_and_admin_creates_agent(client, admin) -> None:
    r = await client.post(
        "/v1/admin/agents",
        headers=admin.headers,
        json={"username": "fin-" + admin.id[:8], "password": "short", "roles": ["finance"]},
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/admin/agents",
        headers=admin.headers,
        json={
            "username": "fin-" + admin.id[:8],
            "password": "a long enough passphrase",
            "roles": ["finance"],
        },
    )
    assert r.status_code == 201, r.text
    t = await client.post(
        "/v1/auth/agent-token",
        json={"username": "fin-" + admin.id[:8], "password": "a long enough passphrase"},
    )
    assert t.status_code == 200 and t.json()["roles"] == ["finance"]
    bad = await client.post(
        "/v1/auth/agent-token",
        json={"username": "fin-" + admin.id[:8], "password": "wrong password!!"},
    )
    assert bad.status_code == 401
