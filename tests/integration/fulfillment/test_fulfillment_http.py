"""Admin and customer routes of fulfillment (need the auth room's guards and fixtures)."""

from __future__ import annotations

import uuid
from typing import Any

PROBLEM = "application/problem+json"


async def test_admin_registers_partner_and_anonymous_cannot(client: Any, admin: Any) -> None:
    body = {
        "code": f"sf{uuid.uuid4().hex[:8]}",
        "name": "顺丰速运",
        "kind": "http",
        "endpoint_url": "https://sf.example/dispatch",
        "secret": "s" * 24,
        "cost_minor": 1200,
    }
    r = await client.post("/v1/partners", json=body)
    assert r.status_code == 401
    r = await client.post("/v1/partners", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    assert r.json()["delivery_method"] == "courier" and "secret" not in r.json()
    again = await client.post("/v1/partners", json=body, headers=admin.headers)
    assert again.status_code == 422 and again.headers["content-type"].startswith(PROBLEM)


async def test_dead_letter_routes_are_admin_only(client: Any, admin: Any) -> None:
    r = await client.get("/v1/admin/dead-letters")
    assert r.status_code == 401
    r = await client.get("/v1/admin/dead-letters", headers=admin.headers)
    assert r.status_code == 200 and isinstance(r.json(), list)
    r = await client.post("/v1/admin/dead-letters/nope/replay", headers=admin.headers)
    assert r.status_code == 404
