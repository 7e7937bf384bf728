"""Idempotency-Key on cancel (docs/http-api.md): another body is 422, concurrent duplicates
cancel once; and the purge job forgets keys after their 24 hours, and only then."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

import commerce
from core import idempotency
from core.clock import TravelClock
from core.idempotency import IdempotencyRecord
from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings
from tests.integration.commerce.helpers import available, make_offer

PROBLEM = "application/problem+json"


async def _place(client: Any, customer: Any, offer_id: str, quantity: int) -> dict[str, Any]:
    body = {"items": [{"offer_id": offer_id, "quantity": quantity}]}
    r = await client.post("/v1/orders", json=body, headers=customer.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


def _slug(r: Any) -> str:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return str(r.json()["type"].rsplit("/", 1)[-1])


async def test_cancel_with_the_same_key_and_another_body_is_422(
    client: Any, rt: Runtime, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=4)
    order = await _place(client, customer, offer.id, 2)
    url = f"/v1/orders/{order['id']}/cancel"
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    first = await client.post(url, json={"reason": "plans changed"}, headers=headers)
    assert first.status_code == 200
    r = await client.post(url, json={"reason": "found cheaper"}, headers=headers)
    assert r.status_code == 422 and _slug(r) == "idempotency-conflict"
    async with rt.sessions() as session:
        history = await commerce.order_history(session, order["id"])
    assert [e.reason for e in history if e.to_status == "cancelled"] == ["plans changed"]
    assert await available(rt, offer.id) == 4


async def test_concurrent_cancels_with_one_key_cancel_once(
    client: Any, rt: Runtime, customer: Any
) -> None:
    offer = await make_offer(rt, capacity=3)
    order = await _place(client, customer, offer.id, 3)
    url = f"/v1/orders/{order['id']}/cancel"
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    rs = await asyncio.gather(
        *[client.post(url, json={"reason": "double click"}, headers=headers) for _ in range(8)]
    )
    codes = [r.status_code for r in rs]
    assert set(codes) <= {200, 409} and 200 in codes, codes
    assert all(_slug(r) == "idempotency-in-progress" for r in rs if r.status_code == 409)
    assert all(r.headers.get("retry-after") for r in rs if r.status_code == 409)
    bodies = [r.json() for r in rs if r.status_code == 200]
    assert all(b == bodies[0] for b in bodies), "every 200 is the one cancel, replayed"
    async with rt.sessions() as session:
        history = await commerce.order_history(session, order["id"])
    assert [e.to_status for e in history].count("cancelled") == 1
    assert await available(rt, offer.id) == 3


async def _keep_key(rt: Runtime, key: str, *, age: timedelta) -> None:
    """A completed key written `age` ago, as the order route stores it."""
    now = rt.clock.now() - age
    claim = await idempotency.claim(
        rt.sessions, scope="orders.create:customer:purge-test", key=key, fingerprint="f", now=now
    )
    async with rt.sessions() as session, session.begin():
        await idempotency.complete(session, claim, status=201, body={"id": key}, now=now)


async def _kept(rt: Runtime, keys: list[str]) -> set[str]:
    async with rt.sessions() as session:
        rows = await session.scalars(
            select(IdempotencyRecord.key).where(IdempotencyRecord.key.in_(keys))
        )
        return set(rows)


async def test_the_purge_job_forgets_keys_older_than_24_hours_only(
    rt: Runtime, clock: TravelClock
) -> None:
    old, young = f"old-{uuid.uuid4().hex}", f"young-{uuid.uuid4().hex}"
    await _keep_key(rt, old, age=timedelta(hours=24, minutes=1))
    await _keep_key(rt, young, age=timedelta(hours=23))
    assert await _kept(rt, [old, young]) == {old, young}
    purged = await commerce.purge_idempotency_keys_job(rt)
    assert purged >= 1
    assert await _kept(rt, [old, young]) == {young}
    clock.advance(hours=1, minutes=1)  # now the young key has had its 24 hours too
    await commerce.purge_idempotency_keys_job(rt)
    assert await _kept(rt, [old, young]) == set()


async def test_the_retention_of_used_keys_is_configurable(
    rt: Runtime, settings: Settings, clock: TravelClock
) -> None:
    """HOTLINE_IDEMPOTENCY_RETENTION_HOURS keeps used keys longer (audit); never under 24."""
    with pytest.raises(SettingsError, match="HOTLINE_IDEMPOTENCY_RETENTION_HOURS"):
        load_settings(environ={"HOTLINE_IDEMPOTENCY_RETENTION_HOURS": "12"})
    week = Runtime.build(
        dataclasses.replace(settings, idempotency_retention_hours=168), clock=clock
    )
    try:
        old, older = f"old-{uuid.uuid4().hex}", f"older-{uuid.uuid4().hex}"
        await _keep_key(week, old, age=timedelta(hours=100))
        await _keep_key(week, older, age=timedelta(hours=169))
        await commerce.purge_idempotency_keys_job(week)
        assert await _kept(week, [old, older]) == {old}
    finally:
        await week.close()
