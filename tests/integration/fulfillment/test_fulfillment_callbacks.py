"""Partner callbacks over HTTP: signatures, stale timestamps, replays and reordering."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from api.composition import Services, build_services
from fulfillment import FulfillmentContext, Partner, Shipment, handle_order_paid
from fulfillment.domain import sign
from tests.integration.fulfillment.conftest import StubOrders, drain
from tests.partner_server import PartnerServer

T0 = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def wired(client: Any, orders: StubOrders) -> AsyncIterator[None]:
    """The app's composition, with the orders stand-in, for this test."""
    app: Litestar = client.app
    before: Services = app.state.services
    app.state.services = build_services(before.runtime, fulfillment_orders=orders)
    yield
    app.state.services = before


async def _dispatched(ctx: FulfillmentContext, orders: StubOrders) -> Shipment:
    snap = orders.paid()
    await handle_order_paid(ctx, snap.order_id)
    await drain(ctx)
    async with ctx.sessions() as session:
        shipment = await session.scalar(select(Shipment).where(Shipment.order_id == snap.order_id))
    assert shipment is not None and shipment.status == "dispatched"
    return shipment


async def _post(
    client: AsyncTestClient[Litestar],
    partner: Partner,
    secret: str,
    body: dict[str, Any],
    *,
    ts: int | None = None,
    signature: str | None = None,
) -> Any:
    raw = json.dumps(body).encode()
    header = signature or sign(secret, raw, ts if ts is not None else int(time.time()))
    return await client.post(
        f"/v1/webhooks/partners/{partner.code}",
        content=raw,
        headers={"Hotline-Signature": header, "Content-Type": "application/json"},
    )


async def _post_raw(
    client: AsyncTestClient[Litestar],
    partner: Partner,
    secret: str,
    raw: bytes,
    *,
    content_type: str | None = None,
) -> Any:
    """These bytes as they are, signed now (a body `_post` could not encode)."""
    headers = {"Hotline-Signature": sign(secret, raw, int(time.time()))}
    if content_type:
        headers["Content-Type"] = content_type
    return await client.post(f"/v1/webhooks/partners/{partner.code}", content=raw, headers=headers)


def _event(shipment: Shipment, status: str, minutes: int) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "shipment_id": shipment.id,
        "status": status,
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "tracking_number": "SF123",
    }


async def _status(ctx: FulfillmentContext, shipment_id: str) -> str:
    async with ctx.sessions() as session:
        return (await session.get_one(Shipment, shipment_id)).status


async def test_callbacks_move_shipment_and_fulfil_the_order(
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    shipment = await _dispatched(ctx, orders)
    secret = partner_server.secret
    r = await _post(client, courier, secret, _event(shipment, "in_transit", 1))
    assert r.status_code == 200 and r.json() == {"outcome": "applied"}
    r = await _post(client, courier, secret, _event(shipment, "delivered", 2))
    assert r.json() == {"outcome": "applied"}
    assert await _status(ctx, shipment.id) == "delivered"
    assert (shipment.order_id, "fulfilled") in orders.marks


async def test_replayed_event_is_applied_once(
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    shipment = await _dispatched(ctx, orders)
    event = _event(shipment, "in_transit", 1)
    first = await _post(client, courier, partner_server.secret, event)
    again = await _post(client, courier, partner_server.secret, event)
    assert first.json() == {"outcome": "applied"}
    assert again.status_code == 200 and again.json() == {"outcome": "duplicate"}


async def test_out_of_order_and_stale_updates_are_ignored(
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    shipment = await _dispatched(ctx, orders)
    secret = partner_server.secret
    assert (await _post(client, courier, secret, _event(shipment, "delivered", 5))).json() == {
        "outcome": "applied"
    }
    late = await _post(client, courier, secret, _event(shipment, "in_transit", 3))
    assert late.json() == {"outcome": "stale"}
    backwards = await _post(client, courier, secret, _event(shipment, "dispatched", 9))
    assert backwards.json() == {"outcome": "ignored"}
    assert await _status(ctx, shipment.id) == "delivered"


@pytest.mark.parametrize("problem", ["wrong-secret", "stale", "tampered", "missing"])
async def test_bad_signatures_are_refused_without_effect(
    problem: str,
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    shipment = await _dispatched(ctx, orders)
    body = _event(shipment, "delivered", 1)
    raw = json.dumps(body).encode()
    now = int(time.time())
    header = {
        "wrong-secret": sign("not-the-secret-at-all", raw, now),
        "stale": sign(partner_server.secret, raw, now - 3600),
        "tampered": sign(partner_server.secret, raw.replace(b"delivered", b"returned"), now),
        "missing": "",
    }[problem]
    r = await client.post(
        f"/v1/webhooks/partners/{courier.code}",
        content=raw,
        headers={"Hotline-Signature": header} if header else {},
    )
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await _status(ctx, shipment.id) == "dispatched"


async def test_unknown_partner_and_bad_body(
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    r = await client.post("/v1/webhooks/partners/nobody", content=b"{}")
    assert r.status_code == 401
    raw = b'{"event_id": "x", "status": "delivered"}'
    r = await _post_raw(client, courier, partner_server.secret, raw)
    assert r.status_code == 422
    shipment = await _dispatched(ctx, orders)
    r = await _post(client, courier, partner_server.secret, _event(shipment, "exploded", 1))
    assert r.status_code == 422
    # a time past the years the service takes (core/dates.py) would overflow on its way to UTC
    far = {**_event(shipment, "delivered", 1), "occurred_at": "9999-12-31T23:59:59-12:00"}
    r = await _post(client, courier, partner_server.secret, far)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_at", r.text
    assert await _status(ctx, shipment.id) == "dispatched"


async def test_dispatch_metrics_on_the_metrics_endpoint(
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
) -> None:
    await _dispatched(ctx, orders)
    text = (await client.get("/metrics")).text
    for name in (
        "hotline_jobs_total",
        "hotline_dispatch_attempts_total",
        "hotline_dispatch_latency_seconds_bucket",
        "hotline_dead_letters_total",
    ):
        assert name in text


@pytest.mark.parametrize("depth", [1_000, 10_000])
async def test_a_signed_callback_nested_too_deep_is_400(
    depth: int,
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    """A valid callback with one extra member nested past the decoder: a bad request (as
    HotlineRequest answers deep JSON everywhere else), not a RecursionError's 500."""
    shipment = await _dispatched(ctx, orders)
    valid = json.dumps(_event(shipment, "delivered", 1)).encode()
    raw = valid[:-1] + b', "extra": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    r = await _post_raw(client, courier, partner_server.secret, raw)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "nested too deep" in r.json()["detail"]
    assert await _status(ctx, shipment.id) == "dispatched"


@pytest.mark.parametrize("raw", [b"not json", b'{"event_id": "x",', b""])
async def test_a_signed_callback_that_is_not_json_is_400(
    raw: bytes,
    client: AsyncTestClient[Litestar],
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    """Not JSON is 400 like any body that is not well-formed JSON (README, Bad input); a
    well-formed body with a wrong value stays 422 (test_unknown_partner_and_bad_body)."""
    r = await _post_raw(client, courier, partner_server.secret, raw)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/bad-request")


async def test_a_signed_callback_of_bytes_that_are_not_utf8_is_400(
    client: AsyncTestClient[Litestar], partner_server: PartnerServer, courier: Partner, wired: None
) -> None:
    """msgspec raises UnicodeDecodeError (no DecodeError) for such bytes: it was a 500."""
    raw = b'{"event_id": "\xff"}'
    r = await _post_raw(client, courier, partner_server.secret, raw)
    assert r.status_code == 400, r.text
    assert "not UTF-8" in r.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "ev\x00nul"),  # as a `\u0000` escape, sent without a JSON Content-Type
        ("tracking_number", "SF\x1b[31m1"),
        ("event_id", "e" * 101),  # wider than its column
        ("event_id", ""),
    ],
)
async def test_a_signed_callback_with_a_value_the_columns_cannot_hold_is_422_naming_it(
    field: str,
    value: str,
    client: AsyncTestClient[Litestar],
    ctx: FulfillmentContext,
    orders: StubOrders,
    partner_server: PartnerServer,
    courier: Partner,
    wired: None,
) -> None:
    """The route reads its own signed bytes whatever their type, so the input guard's JSON
    NUL check does not see a text/plain body: the callback checks its strings itself. Each
    of these reached PostgreSQL before (a NUL or an over-long value: a 500)."""
    shipment = await _dispatched(ctx, orders)
    raw = json.dumps({**_event(shipment, "delivered", 1), field: value}).encode()
    r = await _post_raw(client, courier, partner_server.secret, raw, content_type="text/plain")
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field, r.json()
    assert await _status(ctx, shipment.id) == "dispatched"
