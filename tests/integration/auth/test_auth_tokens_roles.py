"""Token tampering, role-by-route matrix over every guarded route, bad input -> 4xx problem."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select, update

from api.security import agents_only, customers_and_agents
from auth.models import Agent, AuditEvent, Customer
from tests.auth_fixtures import fixture_sessions, make_agent, make_customer, random_cn_mobile

PROBLEM = "application/problem+json"


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


async def test_tampered_tokens_are_401(client, runtime, customer, clock) -> None:
    claims = jwt.decode(customer.token, options={"verify_signature": False})
    forged = {**claims, "knd": "agent", "rol": ["admin"]}
    bad_tokens = [
        _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(forged) + ".",
        jwt.encode(forged, "another-key-another-key-another-key!!", algorithm="HS256"),
        customer.token[:-3] + ("AAA" if not customer.token.endswith("AAA") else "BBB"),
        ".".join([customer.token.split(".")[0], _b64(forged), customer.token.split(".")[2]]),
        "garbage",
    ]
    for token in bad_tokens:
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.headers["content-type"].startswith(PROBLEM)
    clock.advance(minutes=runtime.settings.access_token_minutes + 1)
    r = await client.get("/v1/me", headers=customer.headers)
    assert r.status_code == 401


# Pages answer people (a sign-in redirect, a 403 page), not problem+json; their access rules
# are tested in tests/integration/web/test_console_access.py and test_shop_access.py.
PAGES = ("/console", "/shop")


def _guarded_routes(app: Any) -> list[tuple[str, str, list[Any]]]:
    out = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            layers = handler.ownership_layers  # guards set on the app, routers or controllers
            guards = [g for x in layers for g in (x.guards or [])]
            if not guards or route.path.startswith(PAGES):
                continue
            for method in sorted(handler.http_methods):
                path = re.sub(r"\{[^}]+\}", "zz", route.path)
                out.append((method, path, guards))
    return out


def _guard_lets_in(guard: Any, kind: str, roles: frozenset[str]) -> bool:
    """What a guard admits, read from its own definition (api/security.py)."""
    if guard is customers_and_agents:
        return True
    if guard is agents_only:
        return kind == "agent"
    allowed = getattr(guard, "roles", None)
    assert allowed is not None, f"unknown guard {guard!r}: teach this test what it admits"
    return kind == "agent" and bool(roles & allowed)


def _refused_by_guard(r: Any) -> bool:
    """A 403 from a guard (not a handler's own refusal such as verification-required)."""
    if r.status_code != 403:
        return False
    detail = r.json()["detail"]
    return bool(r.json()["type"].endswith("/forbidden")) and (
        detail == "agents only" or detail.startswith("needs one of the roles")
    )


async def _revoked(runtime: Any, *roles: str) -> tuple[Any, Any]:
    """An admin whose token a password change revoked, and an agent switched off."""
    revoked, inactive = await make_agent(runtime, *roles), await make_agent(runtime, *roles)
    async with fixture_sessions(runtime)() as s, s.begin():
        bump = {"token_version": Agent.token_version + 1}
        await s.execute(update(Agent).where(Agent.id == revoked.id).values(bump))
        await s.execute(update(Agent).where(Agent.id == inactive.id).values(active=False))
    return revoked, inactive


async def test_role_matrix_over_every_guarded_route(app, client, runtime, customer) -> None:
    routes = _guarded_routes(app)
    assert any(p == "/v1/me" for _, p, _ in routes)
    assert any(p == "/v1/finance/ledger.csv" for _, p, _ in routes)
    finance_routes = {(m, p) for m, p, _ in routes if p.startswith("/v1/finance/")}
    assert {  # reconciliation and reports: the finance role only (admin alone is refused)
        ("POST", "/v1/finance/reconciliations"),
        ("GET", "/v1/finance/reconciliations/zz"),
        ("GET", "/v1/finance/reconciliations/zz/items.csv"),
        ("POST", "/v1/finance/reconciliations/zz/items/zz/resolution"),
        ("POST", "/v1/finance/imports/zz"),
        ("GET", "/v1/finance/reports/daily"),
        ("GET", "/v1/finance/reports/daily.csv"),
    } <= finance_routes
    note_refund = [
        g for m, p, gs in routes if (m, p) == ("POST", "/v1/tickets/zz/refunds") for g in gs
    ]
    assert [g.roles for g in note_refund] == [
        {"supervisor", "finance", "admin"}
    ]  # docs/http-api.md
    callers = [("customer", frozenset(), customer)]
    for role in ("agent", "supervisor", "finance", "admin"):
        callers.append(("agent", frozenset({role}), await make_agent(runtime, role)))
    revoked, inactive = await _revoked(runtime, "admin")
    revoked_customer = await make_customer(runtime)
    async with fixture_sessions(runtime)() as s, s.begin():
        await s.execute(
            update(Customer)
            .where(Customer.id == revoked_customer.id)
            .values(token_version=Customer.token_version + 1)
        )
    for method, path, guards in routes:
        body = {} if method in ("POST", "PUT", "PATCH") else None
        where = (method, path, [getattr(g, "__name__", g) for g in guards])
        anon = await client.request(method, path, json=body)
        assert anon.status_code == 401, where
        for dead in (revoked, inactive, revoked_customer):
            r = await client.request(method, path, json=body, headers=dead.headers)
            assert r.status_code == 401, (*where, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
        for kind, roles, who in callers:
            r = await client.request(method, path, json=body, headers=who.headers)
            assert r.status_code != 401 and r.status_code < 500, (*where, kind, roles, r.text)
            if all(_guard_lets_in(g, kind, roles) for g in guards):
                assert not _refused_by_guard(r), (*where, kind, roles, r.text)
            else:
                assert _refused_by_guard(r), (*where, kind, roles, r.status_code, r.text)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/auth/token", {}),
        ("/v1/auth/token", {"phone": 5, "pin": "274915"}),
        ("/v1/auth/token", {"phone": "not a phone", "pin": "274915"}),
        ("/v1/auth/token", {"phone": "+8613800138000", "pin": "274915", "extra": 1}),
        ("/v1/auth/agent-token", {"username": ["x"], "password": "y"}),
        ("/v1/auth/enrollment", {"phone": "12"}),
        ("/v1/auth/enrollment/confirm", {"phone": "+8613800138000", "code": "1", "pin": "1"}),
        ("/v1/auth/enrollment/confirm", []),
    ],
)
async def test_bad_input_on_auth_routes_is_4xx_problem(client, path, body) -> None:
    r = await client.post(path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "+8613800138000"}, "pin"),
        ({"pin": "274915"}, "phone"),
        ({"phone": 5, "pin": "274915"}, "phone"),
        ({"phone": "+8613800138000", "pin": "274915", "extra": 1}, "extra"),
        ([], "body"),
    ],
)
async def test_validation_errors_name_the_field(client, body, field) -> None:
    r = await client.post("/v1/auth/token", json=body)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert r.json()["detail"].startswith(f"{field}: ")


async def test_bad_input_on_agent_routes(client, agent, admin) -> None:
    cases = [
        ("/v1/callers/verify", {"phone": "x", "pin": "1"}, agent),
        ("/v1/customers", {"phone": "+86 138", "locale": "fr"}, agent),
        ("/v1/customers", {"phone": "+8613812345678", "locale": "fr"}, agent),
        ("/v1/admin/agents", {"username": "x", "password": "p", "roles": ["boss"]}, admin),
    ]
    for path, body, who in cases:
        r = await client.post(path, json=body, headers=who.headers)
        assert 400 <= r.status_code < 500, (path, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
    r = await client.get("/v1/customers", params={"phone": "nope"}, headers=agent.headers)
    assert r.status_code == 422


async def test_control_characters_in_names_are_422_naming_the_field(client, agent, admin) -> None:
    cases = [
        ("/v1/customers", {"phone": random_cn_mobile(), "name": "王\x1b[31m伟"}, agent, "name"),
        ("/v1/customers", {"phone": random_cn_mobile(), "name": "王\n伟"}, agent, "name"),
        ("/v1/admin/agents",
         {"username": "ana_ctl", "password": "correct-horse-42", "display_name": "Ana\x07"},
         admin, "display_name"),
        # a name wider than its column (120) reached PostgreSQL: a 500
        ("/v1/admin/agents",
         {"username": "ana_wide", "password": "correct-horse-42", "display_name": "A" * 121},
         admin, "display_name"),
        # a username is typed at the sign-in form and read in audit trails
        ("/v1/admin/agents", {"username": "ana\x07", "password": "correct-horse-42"},
         admin, "username"),
        ("/v1/admin/agents", {"username": " ana", "password": "correct-horse-42"},
         admin, "username"),
    ]  # fmt: skip
    for path, body, who, field in cases:
        r = await client.post(path, json=body, headers=who.headers)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM), r.text
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text


async def test_customer_routes(client, agent, customer, other_customer) -> None:
    mine = await client.get(f"/v1/customers/{customer.id}", headers=customer.headers)
    assert mine.status_code == 200 and mine.json()["phone"] == customer.phone
    theirs = await client.get(f"/v1/customers/{other_customer.id}", headers=customer.headers)
    assert theirs.status_code == 404
    found = await client.get(
        "/v1/customers", params={"phone": customer.phone[3:]}, headers=agent.headers
    )
    assert found.status_code == 200 and found.json()["id"] == customer.id
    dup = await client.post("/v1/customers", json={"phone": customer.phone}, headers=agent.headers)
    assert dup.status_code == 409


async def test_sms_outbox_newest_first(client, admin) -> None:
    from tests.auth_fixtures import random_cn_mobile

    phone = random_cn_mobile()
    await client.post("/v1/auth/enrollment", json={"phone": phone})
    r = await client.get("/v1/admin/sms-outbox", params={"to": phone}, headers=admin.headers)
    assert r.status_code == 200 and len(r.json()) == 1 and r.json()[0]["purpose"] == "otp"


async def test_verification_expires_in_orders_sense(
    client, runtime, agent, customer, clock
) -> None:
    import auth
    from tests.auth_fixtures import fixture_sessions, verify_caller

    vid = await verify_caller(client, agent, customer)
    clock.advance(timedelta(minutes=runtime.settings.verification_minutes, seconds=1))
    async with fixture_sessions(runtime)() as s:
        with pytest.raises(auth.VerificationRequired):
            await auth.check_verification(
                s, vid, customer_id=customer.id, agent_id=agent.id, now=runtime.clock.now()
            )


async def test_pin_and_password_change_revoke_old_tokens(client, customer, agent) -> None:
    weak = await client.post(
        "/v1/auth/pin",
        headers=customer.headers,
        json={"current_pin": customer.pin, "new_pin": "111111"},
    )
    assert weak.status_code == 422
    r = await client.post(
        "/v1/auth/pin",
        headers=customer.headers,
        json={"current_pin": customer.pin, "new_pin": "508317"},
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/me", headers=customer.headers)).status_code == 401
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/v1/me", headers=fresh)).status_code == 200
    r = await client.post(
        "/v1/auth/password",
        headers=agent.headers,
        json={"current_password": agent.password, "new_password": "another long passphrase"},
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/v1/me", headers=agent.headers)).status_code == 401


async def test_a_wrong_current_secret_is_422_naming_the_field_and_counted(
    client, customer, agent, app
) -> None:
    """401 would tell the client its token failed; the token is fine, the current PIN is not."""
    r = await client.post(
        "/v1/auth/pin",
        headers=customer.headers,
        json={"current_pin": "000009", "new_pin": "508317"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["type"].endswith("/current-secret-wrong")
    assert r.json()["errors"][0]["field"] == "current_pin"
    assert (await client.get("/v1/me", headers=customer.headers)).status_code == 200
    r = await client.post(
        "/v1/auth/password",
        headers=agent.headers,
        json={"current_password": "not the password", "new_password": "another long passphrase"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "current_password"
    async with fixture_sessions(app.state.runtime)() as s:
        outcomes = (
            await s.scalars(
                select(AuditEvent.outcome).where(
                    AuditEvent.subject.in_([customer.phone, f"agent:{agent.username}"])
                )
            )
        ).all()
    assert outcomes.count("failure") == 2  # each miss counted and audited like a login


def test_create_agent_cli(pg_url, settings) -> None:
    import uuid

    from click.testing import CliRunner

    import api.admin_cli  # noqa: F401 - registers the commands
    from api.cli import main

    env = {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": pg_url,
        "HOTLINE_SECRET_KEY": settings.secret_key,
    }
    name = f"cli-{uuid.uuid4().hex[:6]}"
    args = [
        "create-agent",
        "--username",
        name,
        "--role",
        "finance",
        "--password",
        "a long enough passphrase",
    ]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "created" in result.output
    again = CliRunner().invoke(main, args, env=env)
    assert again.exit_code == 1 and "exists" in again.output
