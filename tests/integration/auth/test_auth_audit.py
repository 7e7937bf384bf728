"""Every login, failure, throttle, lock, PIN and password change and verification leaves an
audit row with its actor, channel and client address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from auth import AuditEvent
from tests.auth_fixtures import fixture_sessions, make_agent, make_customer
from tests.integration.auth.test_auth_codes import latest_code

ADDRESS = "testclient"  # the client address the in-process test client reports


async def _rows(runtime: Any, *subjects: str) -> set[tuple[str, str, str, str, str]]:
    async with fixture_sessions(runtime)() as s:
        rows = await s.execute(
            select(
                AuditEvent.event,
                AuditEvent.outcome,
                AuditEvent.actor,
                AuditEvent.channel,
                AuditEvent.client_address,
            ).where(AuditEvent.subject.in_(subjects))
        )
        return {tuple(r) for r in rows}


async def _until_locked(client: Any, clock: Any, path: str, body: dict[str, str]) -> None:
    for _ in range(200):
        r = await client.post(path, json=body)
        if r.status_code == 429 and r.json()["type"].endswith("/locked"):
            return
        if r.status_code == 429:
            clock.advance(seconds=int(r.headers["Retry-After"]) + 1)
    raise AssertionError("never locked")


async def test_customer_events_audited(client, runtime, clock, agent) -> None:
    c = await make_customer(runtime)
    await client.post("/v1/auth/token", json={"phone": c.phone, "pin": "000001"})
    r = await client.post(
        "/v1/callers/verify", json={"phone": c.phone, "pin": c.pin}, headers=agent.headers
    )
    assert r.status_code == 201
    r = await client.post(
        "/v1/auth/pin", headers=c.headers, json={"current_pin": c.pin, "new_pin": "508317"}
    )
    assert r.status_code == 200
    me = f"customer:{c.id}"
    got = await _rows(runtime, c.phone, me)
    assert ("login", "failure", "anonymous", "web", ADDRESS) in got
    assert ("verification", "success", f"agent:{agent.id}", "phone", ADDRESS) in got
    assert ("pin_check", "success", me, "web", ADDRESS) in got
    assert ("pin_change", "success", me, "web", ADDRESS) in got

    await _until_locked(client, clock, "/v1/auth/token", {"phone": c.phone, "pin": "000001"})
    assert (await client.post("/v1/auth/enrollment", json={"phone": c.phone})).status_code == 202
    code = await latest_code(runtime, c.phone)
    r = await client.post(
        "/v1/auth/enrollment/confirm", json={"phone": c.phone, "code": code, "pin": "583016"}
    )
    assert r.status_code == 200
    got = await _rows(runtime, c.phone, me)
    outcomes = {(e, o) for e, o, *_ in got}
    assert {("login", "throttled"), ("login", "locked")} <= outcomes
    assert ("pin_change", "success", me, "sms", ADDRESS) in got  # the reset came by SMS code


async def test_agent_events_audited(client, runtime, clock) -> None:
    a = await make_agent(runtime, "supervisor")
    r = await client.post(
        "/v1/auth/password",
        headers=a.headers,
        json={"current_password": a.password, "new_password": "another long passphrase"},
    )
    assert r.status_code == 200
    me, subject = f"agent:{a.id}", f"agent:{a.username}"
    body = {"username": a.username, "password": "not the password!"}
    await _until_locked(client, clock, "/v1/auth/agent-token", body)
    refused = await client.post("/v1/auth/agent-token", json=body)
    assert refused.status_code == 429
    got = await _rows(runtime, me, subject)
    assert ("password_change", "success", me, "web", ADDRESS) in got
    assert ("agent_login", "success", me, "web", ADDRESS) in got  # checking the old password
    for outcome in ("failure", "throttled", "locked"):
        assert ("agent_login", outcome, "anonymous", "web", ADDRESS) in got, outcome
