"""lock_timeout -> 409 `busy` + Retry-After: an offer row locked by another transaction longer
than the lock timeout turns an order into a retryable refusal, with nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select, update

import commerce
from commerce import Offer, capacity
from core.runtime import Runtime
from tests.integration.commerce.helpers import available, make_offer

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("how", ["select-for-update", "another-hold"])
async def test_a_locked_offer_row_is_409_busy_with_retry_after_and_writes_nothing(
    client: Any, rt: Runtime, customer: Any, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(capacity, "LOCK_TIMEOUT_MS", 300)  # a short wait, not the 3 s default
    offer = await make_offer(rt, capacity=5)
    body = {"items": [{"offer_id": offer.id, "quantity": 2}]}
    headers = {**customer.headers, "Idempotency-Key": uuid.uuid4().hex}
    async with rt.sessions() as holder, holder.begin():
        if how == "select-for-update":  # an admin's long edit: blocks even the items' FK
            await holder.execute(select(Offer.id).where(Offer.id == offer.id).with_for_update())
        else:  # a hold that has not committed yet: blocks the conditional update itself
            await holder.execute(
                update(Offer).where(Offer.id == offer.id).values(available=Offer.available)
            )
        r = await client.post("/v1/orders", json=body, headers=headers)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/busy")
    assert int(r.headers["retry-after"]) >= 1
    assert await available(rt, offer.id) == 5
    async with rt.sessions() as session:
        orders = await session.scalar(
            select(func.count()).where(commerce.Order.customer_id == customer.id)
        )
    assert orders == 0
    # The refusal freed its Idempotency-Key: the same request, once the row is free, books.
    r = await client.post("/v1/orders", json=body, headers=headers)
    assert r.status_code == 201 and r.headers.get("idempotent-replayed") is None
    assert await available(rt, offer.id) == 3
