"""Orders from the real commerce room and small waits, for the payments integration tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

import commerce
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime
from payments.models import LedgerTransaction, WebhookReceipt

AGENT = Principal("agent", uuid.uuid4().hex, frozenset({"agent", "supervisor", "finance"}))


async def place_order(runtime: Runtime, *, price: int = 12800, quantity: int = 1) -> Any:
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="周杰伦 演唱会",
            venue="上海体育场",
            starts_at=now + timedelta(days=30),
            price=Money(price, "CNY"),
            capacity=5,
            now=now,
        )
        order = await commerce.place_order(
            s,
            customer_id=uuid.uuid4().hex,
            lines=[commerce.LineRequest(offer.id, quantity)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor=AGENT.actor,
            channel="phone",
            settings=runtime.settings,
            now=now,
        )
    return order


async def order_status(runtime: Runtime, order_id: str) -> str:
    async with runtime.sessions() as s:
        return str((await commerce.get_order(s, order_id)).status)


async def count(runtime: Runtime, model: Any, *where: Any) -> int:
    async with runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def captures(runtime: Runtime, payment_id: str) -> int:
    return await count(
        runtime,
        LedgerTransaction,
        LedgerTransaction.payment_id == payment_id,
        LedgerTransaction.kind == "capture",
    )


async def wait_for_event(runtime: Runtime, kind: str, since: int, timeout: float = 10) -> None:
    """Wait until localstripe delivered one more `kind` event than `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await count(runtime, WebhookReceipt, WebhookReceipt.type == kind) > since:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {kind} webhook within {timeout}s")


async def wait_for_status(
    runtime: Runtime, payment_id: str, status: str, timeout: float = 10
) -> None:
    """Wait until the payment reaches `status` (a webhook from localstripe settles it)."""
    from payments.models import Payment

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with runtime.sessions() as s:
            if (await s.get_one(Payment, payment_id)).status == status:
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"payment {payment_id} not {status} within {timeout}s")


def signed(secret: str, event: dict[str, Any], at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(event).encode()
    ts = int(time.time()) if at is None else at
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={ts},v1={sig}"


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": kind,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "api_version": "2020-08-27",
    }
