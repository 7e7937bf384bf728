"""The commerce HTTP contract (docs/http-api.md, Commerce): offers, orders, who may do what,
bad input, Idempotency-Key, cancel, hold expiry. In-process app against PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import commerce
from core.clock import TravelClock
from core.runtime import Runtime
from tests.auth_fixtures import make_customer, verify_caller
from tests.integration.commerce.helpers import available, make_offer

PROBLEM = "application/problem+json"


def _order_body(offer_id: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"items": [{"offer_id": offer_id, "quantity": quantity}], **extra}


def _slug(r: Any) -> str:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return str(r.json()["type"].rsplit("/", 1)[-1])


async def _orders_of(rt: Runtime, customer_id: str) -> int:
    async with rt.sessions() as session:
        n = await session.scalar(
            select(func.count()).where(commerce.Order.customer_id == customer_id)
        )
        return int(n or 0)


# --- offers --------------------------------------------------------------------------------


async def test_admin_creates_offer_and_anyone_finds_it(client: Any, admin: Any) -> None:
    code = f"T{uuid.uuid4().hex[:6].upper()}"
    body = {
        "code": code,
        "kind": "flight",
        "title": "MU5101 上海虹桥 → 北京首都",
        "venue": "SHA -> PEK",
        "starts_at": "2031-03-01T08:00:00+08:00",
        "price": {"amount": 124000, "currency": "CNY"},
        "capacity": 150,
    }
    r = await client.post("/v1/offers", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    offer = r.json()
    assert offer["code"] == code and offer["available"] == 150
    assert offer["price"] == {"amount": 124000, "currency": "CNY"}
    r = await client.get("/v1/offers", params={"kind": "flight", "q": code.lower()})
    assert [o["id"] for o in r.json()["items"]] == [offer["id"]]
    r = await client.get("/v1/offers", params={"q": code, "on": "2031-03-01"})
    assert [o["code"] for o in r.json()["items"]] == [code]
    r = await client.get("/v1/offers", params={"q": code, "on": "2031-03-02"})
    assert r.json()["items"] == []
    r = await client.post("/v1/offers", json=body, headers=admin.headers)
    assert r.status_code == 409 and _slug(r) == "offer-code-taken"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", {"amount": 12.5, "currency": "CNY"}),
        ("price", {"amount": 12.0, "currency": "CNY"}),
        ("price", {"amount": "1200", "currency": "CNY"}),
        ("price", {"amount": -1, "currency": "CNY"}),
        ("capacity", 0),
        ("capacity", 2.0),
        ("kind", "spaceship"),
        ("starts_at", "2020-01-01T00:00:00+00:00"),
    ],
)
async def test_bad_offers_are_refused(client: Any, admin: Any, field: str, value: Any) -> None:
    title = f"bad offer {uuid.uuid4().hex}"
    body = {
        "kind": "event",
        "title": title,
        "venue": "上海体育场",
        "starts_at": "2031-03-01T19:30:00+08:00",
        "price": {"amount": 68000, "currency": "CNY"},
        "capacity": 10,
        field: value,
    }
    r = await client.post("/v1/offers", json=body, headers=admin.headers)
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert (await client.get("/v1/offers", params={"q": title})).json()["items"] == []


async def test_only_admins_create_offers(client: Any, agent: Any, customer: Any) -> None:
    body = {"kind": "event", "title": "x", "venue": "y", "starts_at": "2031-01-01T00:00:00Z",
            "price": {"amount": 1}, "capacity": 1}  # fmt: skip
    assert (await client.post("/v1/offers", json=body)).status_code == 401
    assert (await client.post("/v1/offers", json=body, headers=agent.headers)).status_code == 403
    r = await client.post("/v1/offers", json=body, headers=customer.headers)
    assert r.status_code == 403


async def test_offer_list_pages_with_a_cursor(client: Any, rt: Runtime) -> None:
    tag = uuid.uuid4().hex[:8]
    for i in range(5):
        await make_offer(rt, title=f"page {tag}", starts_in=timedelta(days=10 + i))
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params: dict[str, Any] = {"q": tag, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/offers", params=params)).json()
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 == len(set(seen))
    r = await client.get("/v1/offers", params={"cursor": "garbage!"})
    assert r.status_code in (400, 422)


# --- orders --------------------------------------------------------------------------------


async def test_customer_orders_and_reads_own_order(
    client: Any, rt: Runtime, customer: Any, other_customer: Any, agent: Any
) -> None:
    offer = await make_offer(rt, capacity=5, price=68000)
    body = _order_body(offer.id, 2, delivery={"method": "courier", "address": "上海市徐汇区1号"})
    r = await client.post("/v1/orders", json=body, headers=customer.headers)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "awaiting_payment" and order["channel"] == "web"
    assert order["customer_id"] == customer.id and len(order["number"]) == 8
    assert order["subtotal"]["amount"] == 136000 and order["booking_fee"]["amount"] == 500
    assert order["delivery_fee"]["amount"] == 1500 and order["total"]["amount"] == 138000
    assert await available(rt, offer.id) == 3
    r = await client.get(f"/v1/orders/{order['id']}", headers=customer.headers)
    assert r.status_code == 200 and r.json()["history"][0]["to_status"] == "awaiting_payment"
    assert r.json()["payments"] == [] and r.json()["shipments"] == []
    r = await client.get(f"/v1/orders/{order['id']}", headers=other_customer.headers)
    assert r.status_code == 404 and _slug(r) == "not-found"
    assert (await client.get(f"/v1/orders/{order['id']}", headers=agent.headers)).status_code == 200
    assert (await client.get(f"/v1/orders/{order['id']}")).status_code == 401
    mine = (await client.get("/v1/orders", headers=customer.headers)).json()["items"]
    assert [o["id"] for o in mine] == [order["id"]]
    theirs = await client.get(
        "/v1/orders", params={"customer_id": customer.id}, headers=other_customer.headers
    )
    assert theirs.json()["items"] == []
    by_agent = await client.get(
        "/v1/orders", params={"customer_id": customer.id, "status": "awaiting_payment"},
        headers=agent.headers,
    )  # fmt: skip
    assert [o["id"] for o in by_agent.json()["items"]] == [order["id"]]


async def test_customer_cannot_order_for_someone_else(
    client: Any, rt: Runtime, customer: Any, other_customer: Any
) -> None:
    offer = await make_offer(rt)
    body = _order_body(offer.id, customer_id=other_customer.id)
    r = await client.post("/v1/orders", json=body, headers=customer.headers)
    assert r.status_code == 403
    assert await _orders_of(rt, other_customer.id) == 0


async def test_agent_orders_only_with_a_fresh_verification(
    client: Any, rt: Runtime, clock: TravelClock, agent: Any, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=5)
    r = await client.post(
        "/v1/orders", json=_order_body(offer.id, customer_id=customer.id), headers=agent.headers
    )
    assert r.status_code == 403 and _slug(r) == "verification-required"
    verification = await verify_caller(client, agent, customer)
    body = _order_body(offer.id, customer_id=customer.id, verification_id=verification)
    r = await client.post("/v1/orders", json=body, headers=agent.headers)
    assert r.status_code == 201, r.text
    assert r.json()["channel"] == "phone" and r.json()["customer_id"] == customer.id
    clock.advance(minutes=16)
    r = await client.post("/v1/orders", json=body, headers=agent.headers)
    assert r.status_code == 403 and _slug(r) == "verification-required"
    other = await make_customer(rt)
    body = _order_body(offer.id, customer_id=other.id, verification_id=verification)
    r = await client.post("/v1/orders", json=body, headers=agent.headers)
    assert r.status_code == 403
    assert await _orders_of(rt, other.id) == 0


@pytest.mark.parametrize(
    "items",
    [
        [{"quantity": 0}],
        [{"quantity": -2}],
        [{"quantity": 101}],
        [{"quantity": 10**30}],
        [{"quantity": 1.5}],
        [{"quantity": 1.0}],
        [{"quantity": "1"}],
        [{"quantity": True}],
        [],
        [{"quantity": 1, "offer_id": "no-such-offer"}],
        [{"quantity": 1, "price": 1}],
    ],
)
async def test_bad_order_input_is_4xx_and_writes_nothing(
    client: Any, rt: Runtime, customer: Any, items: list[dict[str, Any]]
) -> None:
    offer = await make_offer(rt, capacity=5)
    body = {"items": [{"offer_id": offer.id, **i} for i in items]}
    r = await client.post("/v1/orders", json=body, headers=customer.headers)
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert await available(rt, offer.id) == 5
    assert await _orders_of(rt, customer.id) == 0


@pytest.mark.parametrize(
    "address", ["addr\x1b[31m", "addr\x01", "addr\x07", "addr\x7f", "ad\x9bdr"]
)
async def test_control_characters_in_an_address_are_422_and_write_nothing(
    client: Any, rt: Runtime, customer: Any, address: str
) -> None:
    """The courier would get the ESC sequence (core/text.py `check_plain_text`)."""
    offer = await make_offer(rt, capacity=5)
    delivery = {"method": "courier", "address": address}
    r = await client.post(
        "/v1/orders", json=_order_body(offer.id, delivery=delivery), headers=customer.headers
    )
    assert r.status_code == 422 and _slug(r) == "validation-error", r.text
    assert [e["field"] for e in r.json()["errors"]] == ["delivery.address"]
    assert await available(rt, offer.id) == 5
    assert await _orders_of(rt, customer.id) == 0


async def test_free_text_keeps_line_breaks_and_refuses_control_characters(
    client: Any, rt: Runtime, customer: Any, admin: Any
) -> None:
    offer = await make_offer(rt, capacity=5)
    delivery = {"method": "courier", "address": "上海市徐汇区\r\n漕溪北路 1 号\t3 楼"}
    r = await client.post(
        "/v1/orders", json=_order_body(offer.id, delivery=delivery), headers=customer.headers
    )
    assert r.status_code == 201 and r.json()["delivery"]["address"] == delivery["address"]
    url = f"/v1/orders/{r.json()['id']}/cancel"
    r = await client.post(url, json={"reason": "plans\x1b[2J changed"}, headers=customer.headers)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["reason"]
    body = {"kind": "event", "venue": "上海体育场", "starts_at": "2031-03-01T19:30:00+08:00",
            "price": {"amount": 68000, "currency": "CNY"}, "capacity": 10}  # fmt: skip
    for field in ("title", "venue"):
        bad = {"title": "演唱会", **body, field: "演唱会\x1b[5m"}
        r = await client.post("/v1/offers", json=bad, headers=admin.headers)
        assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'{"items": null}'])
async def test_malformed_json_is_4xx(client: Any, customer: Any, raw: bytes) -> None:
    headers = {**customer.headers, "content-type": "application/json"}
    r = await client.post("/v1/orders", content=raw, headers=headers)
    assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith(PROBLEM), r.text


async def test_sold_out_is_409_naming_the_offer(client: Any, rt: Runtime, customer: Any) -> None:
    offer = await make_offer(rt, capacity=2)
    r = await client.post("/v1/orders", json=_order_body(offer.id, 3), headers=customer.headers)
    assert r.status_code == 409 and _slug(r) == "sold-out"
    assert r.json()["offer_id"] == offer.id and r.json()["available"] == 2
    assert offer.code in r.json()["detail"]


# --- Idempotency-Key -------------------------------------------------------------------------


async def test_same_key_same_body_replays_the_first_order(
    client: Any, rt: Runtime, customer: Any, other_customer: Any
) -> None:
    offer = await make_offer(rt, capacity=5)
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post("/v1/orders", json=_order_body(offer.id), headers=headers)
    again = await client.post("/v1/orders", json=_order_body(offer.id), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert await available(rt, offer.id) == 4
    r = await client.post("/v1/orders", json=_order_body(offer.id, 2), headers=headers)
    assert r.status_code == 422 and _slug(r) == "idempotency-conflict"
    # Keys are scoped to the caller: the same key from someone else is their own request.
    other = {**other_customer.headers, "Idempotency-Key": headers["Idempotency-Key"]}
    r = await client.post("/v1/orders", json=_order_body(offer.id), headers=other)
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_concurrent_duplicates_make_one_order(
    client: Any, rt: Runtime, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=20)
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    rs = await asyncio.gather(
        *[client.post("/v1/orders", json=_order_body(offer.id), headers=headers) for _ in range(8)]
    )
    codes = sorted(r.status_code for r in rs)
    assert set(codes) <= {201, 409}, codes
    assert all(_slug(r) == "idempotency-in-progress" for r in rs if r.status_code == 409)
    assert len({r.json()["id"] for r in rs if r.status_code == 201}) == 1
    assert await available(rt, offer.id) == 19
    assert await _orders_of(rt, customer.id) == 1


async def test_a_failed_attempt_frees_its_key(
    client: Any, rt: Runtime, customer: Any, other_customer: Any
) -> None:
    offer = await make_offer(rt, capacity=1)
    held = await client.post(
        "/v1/orders", json=_order_body(offer.id), headers=other_customer.headers
    )
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    r = await client.post("/v1/orders", json=_order_body(offer.id), headers=headers)
    assert r.status_code == 409 and _slug(r) == "sold-out"
    cancel = f"/v1/orders/{held.json()['id']}/cancel"
    assert (await client.post(cancel, headers=other_customer.headers)).status_code == 200
    # The SAME key and body again: the refusal was not stored, so this books the freed seat.
    r = await client.post("/v1/orders", json=_order_body(offer.id), headers=headers)
    assert r.status_code == 201 and r.headers.get("idempotent-replayed") is None
    again = await client.post("/v1/orders", json=_order_body(offer.id), headers=headers)
    assert again.json() == r.json() and again.headers.get("idempotent-replayed") == "true"
    assert await available(rt, offer.id) == 0


# --- cancel and expiry ---------------------------------------------------------------------


async def test_cancel_releases_capacity_once_and_checks_ownership(
    client: Any, rt: Runtime, customer: Any, other_customer: Any
) -> None:
    offer = await make_offer(rt, capacity=3)
    order = (
        await client.post("/v1/orders", json=_order_body(offer.id, 3), headers=customer.headers)
    ).json()
    url = f"/v1/orders/{order['id']}/cancel"
    r = await client.post(url, json={"reason": "x"}, headers=other_customer.headers)
    assert r.status_code == 404
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    r = await client.post(url, json={"reason": "plans changed"}, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["history"][-1]["reason"] == "plans changed"
    again = await client.post(url, json={"reason": "plans changed"}, headers=headers)
    assert again.json() == r.json() and again.headers.get("idempotent-replayed") == "true"
    assert (await client.post(url, headers=customer.headers)).status_code == 200
    assert await available(rt, offer.id) == 3


async def test_hold_expires_by_the_job_and_cannot_then_be_cancelled(
    client: Any, rt: Runtime, clock: TravelClock, customer: Any, agent: Any
) -> None:
    offer = await make_offer(rt, capacity=2)
    order = (
        await client.post("/v1/orders", json=_order_body(offer.id, 2), headers=customer.headers)
    ).json()
    clock.advance(minutes=rt.settings.hold_minutes - 1)
    await commerce.expire_holds_job(rt)
    assert await available(rt, offer.id) == 0
    clock.advance(minutes=2)
    await commerce.expire_holds_job(rt)
    assert await available(rt, offer.id) == 2
    # The customer's 15-minute token has lapsed by now; the agent (8 h) looks.
    r = await client.get(f"/v1/orders/{order['id']}", headers=agent.headers)
    assert r.json()["status"] == "expired"
    assert r.json()["history"][-1]["actor"] == "system"
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=agent.headers)
    assert r.status_code == 409 and _slug(r) == "invalid-transition"
