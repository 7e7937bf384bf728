"""Escalations reach people: an inbox row per notified agent, read through
GET /v1/me/notifications (cursor paginated) and marked read one by one."""

from __future__ import annotations

import uuid
from typing import Any

import ticketing

PROBLEM = "application/problem+json"


async def setup_queue(client: Any, supervisor: Any, agent: Any) -> str:
    code = f"q{uuid.uuid4().hex[:8]}"
    r = await client.put(
        f"/v1/business-calendars/cal-{code}",
        headers=supervisor.headers,
        json={"zone": "UTC", "hours": {str(d): [[0, 1440]] for d in range(7)}},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/v1/ticket-queues/{code}",
        headers=supervisor.headers,
        json={"name": code, "calendar": f"cal-{code}", "supervisor_id": supervisor.id},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/v1/ticket-agents/{agent.id}",
        headers=supervisor.headers,
        json={"available": True, "cap": 5, "queues": [code]},
    )
    assert r.status_code == 200, r.text
    return code


async def test_escalations_land_in_the_inbox_of_each_notified_agent(
    client: Any, clock: Any, tk_runtime: Any, customer: Any, agent: Any, supervisor: Any
) -> None:
    code = await setup_queue(client, supervisor, agent)
    body = {"category": "other", "subject": "No ticket", "description": "没有收到票", "queue": code}
    r = await client.post(
        "/v1/tickets", json={**body, "priority": "urgent"}, headers=customer.headers
    )
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["assignee_id"] == agent.id
    clock.advance(minutes=14)  # urgent first response 15 min: 75% and 90% are behind us
    run = await ticketing.escalation_job(tk_runtime)
    assert sorted(f[2] for f in run.fired if f[0] == t["id"]) == ["warn75", "warn90"]

    r = await client.get("/v1/me/notifications?limit=1", headers=agent.headers)
    assert r.status_code == 200, r.text
    first = r.json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    r = await client.get(
        f"/v1/me/notifications?limit=1&cursor={first['next_cursor']}", headers=agent.headers
    )
    second = r.json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    mine = first["items"] + second["items"]
    assert sorted(n["level"] for n in mine) == ["warn75", "warn90"]
    assert {n["ticket_number"] for n in mine} == {t["number"]}
    assert not any(n["read"] for n in mine)

    boss = (await client.get("/v1/me/notifications", headers=supervisor.headers)).json()
    assert [(n["clock"], n["level"]) for n in boss["items"]] == [("first_response", "warn90")]

    target = mine[0]["id"]
    r = await client.post(f"/v1/me/notifications/{target}/read", headers=supervisor.headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.post(f"/v1/me/notifications/{target}/read", headers=agent.headers)
    assert r.status_code == 200 and r.json()["read"] is True
    unread = (await client.get("/v1/me/notifications?unread=true", headers=agent.headers)).json()
    assert [n["id"] for n in unread["items"]] == [mine[1]["id"]]

    r = await client.get("/v1/me/notifications", headers=customer.headers)
    assert r.status_code in (403, 404)
    r = await client.get("/v1/me/notifications?cursor=garbage", headers=agent.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = await client.get("/v1/me/notifications?limit=0", headers=agent.headers)
    assert r.status_code == 422
