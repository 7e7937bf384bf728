"""The contract other rooms use: fixtures, tokens, guards, caller verification."""

from __future__ import annotations

from datetime import timedelta

import pytest

import auth
from core.errors import Forbidden
from tests.auth_fixtures import fixture_sessions, make_agent, make_customer, verify_caller


async def test_customer_token_reads_me(client, customer) -> None:
    resp = await client.get("/v1/me", headers=customer.headers)
    assert resp.status_code == 200
    assert resp.json() == {"kind": "customer", "id": customer.id, "roles": []}


async def test_agent_roles_in_token(client, supervisor) -> None:
    resp = await client.get("/v1/me", headers=supervisor.headers)
    assert resp.json()["roles"] == ["supervisor"]


async def test_missing_token_is_401_problem(client) -> None:
    resp = await client.get("/v1/me")
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["type"].endswith("unauthorized")


async def test_verify_caller_and_check(client, runtime, agent, customer, other_customer) -> None:
    vid = await verify_caller(client, agent, customer)
    now = runtime.clock.now()
    async with fixture_sessions(runtime)() as session:
        await auth.check_verification(
            session, vid, customer_id=customer.id, agent_id=agent.id, now=now
        )
        other_agent = await make_agent(runtime)
        for kwargs in (
            {"customer_id": other_customer.id, "agent_id": agent.id, "now": now},
            {"customer_id": customer.id, "agent_id": other_agent.id, "now": now},
            {"customer_id": customer.id, "agent_id": agent.id, "now": now + timedelta(minutes=16)},
        ):
            with pytest.raises(Forbidden) as err:
                await auth.check_verification(session, vid, **kwargs)
            assert err.value.slug == "verification-required"
        with pytest.raises(Forbidden):
            await auth.check_verification(
                session, "missing", customer_id=customer.id, agent_id=agent.id, now=now
            )


async def test_customer_login_by_pin(client, runtime) -> None:
    c = await make_customer(runtime, pin="739164")
    resp = await client.post("/v1/auth/token", json={"phone": c.phone, "pin": "739164"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["customer_id"] == c.id and body["token_type"] == "bearer"
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == c.id
