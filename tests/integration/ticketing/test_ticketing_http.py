"""The ticketing HTTP contract (docs/http-api.md, Ticketing): who sees what, clocks in the API,
bad input as problem+json, reports in JSON and CSV. In-process app against PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

PROBLEM = "application/problem+json"


def _slug(r: Any) -> str:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return str(r.json()["type"].rsplit("/", 1)[-1])


async def _open(client: Any, who: Any, **extra: Any) -> dict[str, Any]:
    body = {"category": "billing", "subject": "Charged twice", "description": "两次扣费", **extra}
    r = await client.post("/v1/tickets", json=body, headers=who.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_customer_sees_own_ticket_with_clocks_and_public_comments_only(
    client: Any, customer: Any, other_customer: Any, agent: Any
) -> None:
    t = await _open(client, customer, priority="high")
    assert t["status"] in ("new", "open") and len(t["number"]) == 11
    for clock in ("first_response", "next_response", "resolution"):
        assert {"due_at", "paused", "remaining_business_seconds", "breached_at"} <= set(
            t["sla"][clock]
        )
    url = f"/v1/tickets/{t['id']}"
    r = await client.post(
        f"{url}/comments", json={"body": "内部备注", "public": False}, headers=agent.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(
        f"{url}/comments", json={"body": "已处理", "public": True}, headers=agent.headers
    )
    assert r.status_code == 201, r.text
    mine = (await client.get(url, headers=customer.headers)).json()
    assert [c["body"] for c in mine["comments"]] == ["已处理"]
    assert mine["sla"]["first_response"]["stopped"] is True
    r = await client.get(url, headers=other_customer.headers)
    assert r.status_code == 404 and _slug(r) == "not-found"
    listed = (await client.get("/v1/tickets", headers=other_customer.headers)).json()
    assert t["id"] not in [x["id"] for x in listed["items"]]
    r = await client.post(f"{url}/transitions", json={"to": "open"}, headers=customer.headers)
    assert r.status_code in (403, 404)


async def test_transitions_and_bad_input_are_problems(
    client: Any, customer: Any, agent: Any
) -> None:
    t = await _open(client, customer)
    url = f"/v1/tickets/{t['id']}"
    r = await client.post(f"{url}/transitions", json={"to": "closed"}, headers=agent.headers)
    assert r.status_code == 409 and _slug(r) == "invalid-transition"
    bad_bodies = [
        ("/v1/tickets", {"category": "weather", "subject": "x", "description": "y"}),
        ("/v1/tickets", {"category": "billing", "subject": "", "description": "y"}),
        (
            "/v1/tickets",
            {"category": "billing", "subject": "x", "description": "y", "order_id": "nope"},
        ),
        ("/v1/tickets", {"category": "billing", "subject": "x", "description": "y", "extra": 1}),
        (f"{url}/comments", {"body": 12}),
        (f"{url}/transitions", {"to": "sideways"}),
    ]
    for path, body in bad_bodies:
        r = await client.post(
            path,
            json=body,
            headers=customer.headers if "transitions" not in path else agent.headers,
        )
        assert 400 <= r.status_code < 500, (path, body, r.text)
        assert r.headers["content-type"].startswith(PROBLEM), r.text
    r = await client.post(
        "/v1/tickets",
        content=b"{not json",
        headers={**customer.headers, "content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM)


async def test_assignment_report_json_and_csv(
    client: Any, customer: Any, agent: Any, supervisor: Any
) -> None:
    code = f"q{uuid.uuid4().hex[:8]}"
    r = await client.put(
        "/v1/business-calendars/cal-" + code,
        headers=supervisor.headers,
        json={"zone": "Asia/Shanghai", "hours": {"0": [[540, 720], [780, 1080]]}},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/v1/ticket-queues/{code}",
        headers=supervisor.headers,
        json={"name": code, "calendar": "cal-" + code},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/v1/ticket-agents/{agent.id}",
        headers=supervisor.headers,
        json={"available": True, "cap": 5, "queues": [code]},
    )
    assert r.status_code == 200, r.text
    t = await _open(client, customer, queue=code)
    assert t["assignee_id"] == agent.id and t["status"] == "open"
    r = await client.put(
        "/v1/business-calendars/x",
        headers=supervisor.headers,
        json={"zone": "Nowhere/Town", "hours": {"0": [[0, 60]]}},
    )
    assert r.status_code == 422 and _slug(r) == "validation-error"
    r = await client.get("/v1/reports/tickets", headers=supervisor.headers)
    assert r.status_code == 200 and r.json()["tickets"] >= 1
    r = await client.get("/v1/reports/tickets?format=csv", headers=supervisor.headers)
    assert r.status_code == 200 and r.text.startswith("section,key,metric,value")
    r = await client.get("/v1/reports/tickets", headers=agent.headers)
    assert r.status_code in (403, 404)
    r = await client.get("/v1/reports/tickets?from=yesterday", headers=supervisor.headers)
    assert r.status_code == 422 and _slug(r) == "validation-error"


async def test_time_travel_breaches_first_response_and_escalates_once(
    client: Any, clock: Any, tk_runtime: Any, customer: Any, agent: Any, supervisor: Any
) -> None:
    import ticketing

    code = f"q{uuid.uuid4().hex[:8]}"
    r = await client.put(
        f"/v1/business-calendars/cal-{code}",
        headers=supervisor.headers,
        json={"zone": "Europe/London", "hours": {str(d): [[0, 1440]] for d in range(7)}},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/v1/ticket-queues/{code}",
        headers=supervisor.headers,
        json={"name": code, "calendar": f"cal-{code}", "supervisor_id": supervisor.id},
    )
    assert r.status_code == 200, r.text
    t = await _open(client, customer, queue=code, priority="urgent", category="other")
    fr = t["sla"]["first_response"]
    assert fr["breached_at"] is None and fr["remaining_business_seconds"] == 900
    clock.advance(minutes=14)  # tokens live 15 minutes: stay inside them for the HTTP reads
    url = f"/v1/tickets/{t['id']}"
    later = (await client.get(url, headers=customer.headers)).json()["sla"]["first_response"]
    assert later["breached_at"] is None and later["remaining_business_seconds"] == 60
    first = await ticketing.escalation_job(tk_runtime)
    assert sorted(f[2] for f in first.fired if f[0] == t["id"]) == ["warn75", "warn90"]
    staff = (await client.get(url, headers=agent.headers)).json()
    assert [e["after"]["level"] for e in staff["timeline"] if e["kind"] == "escalation"] == [
        "warn75",
        "warn90",
    ]
    mine = (await client.get(url, headers=customer.headers)).json()
    assert not [e for e in mine["timeline"] if e["kind"] == "escalation"]
    clock.advance(minutes=2)
    second = await ticketing.escalation_job(tk_runtime)
    third = await ticketing.escalation_job(tk_runtime)
    assert [f[2] for f in second.fired if f[0] == t["id"]] == ["breach"]
    assert not [f for f in third.fired if f[0] == t["id"]]
    async with tk_runtime.sessions() as s:
        ticket = await ticketing.get_for(s, t["id"], _principal(agent))
        view = await ticketing.ticket_view(s, ticket, _principal(agent), clock.now())
    assert view["sla"]["first_response"]["breached_at"] == fr["due_at"]


def _principal(who: Any) -> Any:
    from core.principal import Principal

    return Principal("agent", who.id, frozenset(who.roles))


async def test_control_characters_in_ticket_text_are_422_naming_the_field(
    client: Any, customer: Any, agent: Any
) -> None:
    """An ESC sequence would show on the console as "[31m" (core/text.py `check_plain_text`);
    line breaks and tabs are text where several lines are allowed."""
    t = await _open(client, customer, description="第一行\r\n第二行\t金额 ¥553")
    assert t["description"] == "第一行\r\n第二行\t金额 ¥553"
    url = f"/v1/tickets/{t['id']}"
    cases = [
        ("/v1/tickets", {"category": "billing", "subject": "x\x1b[31m", "description": "y"},
         customer, "subject"),
        ("/v1/tickets", {"category": "billing", "subject": "two\nlines", "description": "y"},
         customer, "subject"),
        ("/v1/tickets", {"category": "billing", "subject": "x", "description": "red\x07"},
         customer, "description"),
        (f"{url}/comments", {"body": "hi\x01"}, customer, "body"),
        (f"{url}/comments", {"body": "\x9b2Jnote", "public": False}, agent, "body"),
        (f"{url}/transitions", {"to": "open", "reason": "ok\x1b[0m"}, agent, "reason"),
    ]  # fmt: skip
    for path, body, who, field in cases:
        r = await client.post(path, json=body, headers=who.headers)
        assert r.status_code == 422 and _slug(r) == "validation-error", (path, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    view = (await client.get(url, headers=agent.headers)).json()
    assert view["comments"] == [] and view["status"] == t["status"]
