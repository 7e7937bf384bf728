"""docs/http-api.md conventions on the ticket routes: Idempotency-Key on POST /v1/tickets
(replay, 422 conflict), GET /v1/tickets as {items, next_cursor} with cursor pagination, and
breached= filtered in SQL before the limit (old breached tickets behind newer ones are still
found)."""

from __future__ import annotations

import uuid
from typing import Any

PROBLEM = "application/problem+json"
BODY = {"category": "product", "subject": "Broken seat", "description": "座位坏了"}


def breached(t: dict[str, Any]) -> bool:
    return any(c["breached_at"] is not None for c in t["sla"].values())


async def test_open_ticket_with_idempotency_key_replays_and_conflicts(
    client: Any, customer: Any
) -> None:
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r = await client.post("/v1/tickets", json=BODY, headers={**customer.headers, **key})
    assert r.status_code == 201, r.text
    first = r.json()
    r = await client.post("/v1/tickets", json=BODY, headers={**customer.headers, **key})
    assert r.status_code == 201 and r.json() == first
    assert r.headers.get("idempotent-replayed") == "true"
    other = {**BODY, "subject": "Broken seat and table"}
    r = await client.post("/v1/tickets", json=other, headers={**customer.headers, **key})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/idempotency-conflict")
    mine = (await client.get("/v1/tickets", headers=customer.headers)).json()
    assert [t["id"] for t in mine["items"]] == [first["id"]]
    r = await client.post(
        "/v1/tickets", json=BODY, headers={**customer.headers, "Idempotency-Key": " "}
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


async def test_list_is_cursor_paginated(client: Any, customer: Any) -> None:
    opened = []
    for n in range(5):
        r = await client.post(
            "/v1/tickets", json={**BODY, "subject": f"Seat {n}"}, headers=customer.headers
        )
        assert r.status_code == 201, r.text
        opened.append(r.json()["id"])
    seen: list[str] = []
    sizes = []
    cursor = None
    for _ in range(5):
        q = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        r = await client.get(f"/v1/tickets{q}", headers=customer.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor"}
        seen += [t["id"] for t in page["items"]]
        sizes.append(len(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sizes == [2, 2, 1] and seen == opened[::-1]
    r = await client.get("/v1/tickets?cursor=bogus", headers=customer.headers)
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)


async def test_breached_filter_applies_before_the_limit(
    client: Any, clock: Any, customer: Any, agent: Any, supervisor: Any
) -> None:
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
        json={"name": code, "calendar": f"cal-{code}"},
    )
    assert r.status_code == 200, r.text

    async def open_one() -> str:
        body = {**BODY, "priority": "urgent", "queue": code, "customer_id": customer.id}
        r = await client.post("/v1/tickets", json=body, headers=agent.headers)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    old = [await open_one() for _ in range(3)]  # urgent: first response within 15 minutes
    clock.advance(minutes=20)
    # Answered late: that clock stopped, and its breach stays on record.
    r = await client.post(
        f"/v1/tickets/{old[0]}/comments",
        json={"body": "Sorry", "public": True},
        headers=agent.headers,
    )
    assert r.status_code == 201, r.text
    new = [await open_one() for _ in range(3)]

    async def listing(flag: str, limit: int) -> list[list[dict[str, Any]]]:
        pages, cursor = [], None
        while True:
            q = f"?queue={code}&breached={flag}&limit={limit}"
            r = await client.get(
                f"/v1/tickets{q}" + (f"&cursor={cursor}" if cursor else ""), headers=agent.headers
            )
            assert r.status_code == 200, r.text
            page = r.json()
            pages.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return pages

    late = await listing("true", 2)
    assert [len(p) for p in late] == [2, 1]
    assert sorted(t["id"] for p in late for t in p) == sorted(old)
    assert all(breached(t) for p in late for t in p)
    fine = await listing("false", 3)
    assert [t["id"] for t in fine[0]] == new[::-1] and not any(breached(t) for t in fine[0])
    clock.advance(minutes=16)  # now the newer ones have breached too, with no job having run
    later = await listing("true", 10)
    assert sorted(t["id"] for t in later[0]) == sorted(old + new)
