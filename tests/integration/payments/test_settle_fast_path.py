"""The one-statement webhook settle (payments/settle_pg.py) against the plain path
(service.settle through handle_event without asyncpg's pool): the same rows for the same
event, the same answers for a repeat and a duplicate, and nothing written when it declines
(the plain path then decides: here, the auto refund of an expired order)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

import commerce
from core.runtime import Runtime
from payments import PaymentDeps, handle_event, settle_pg, start_payment
from payments.gateway import Intent
from payments.models import PaymentIncident, WebhookReceipt
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, count, event, place_order
from tests.integration.payments.test_carrier_fast_path import _written
from tests.unit.payments.fakes import FakeGateway

_FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _deps() -> PaymentDeps:
    return PaymentDeps(orders=CommerceOrders(), gateway=FakeGateway(), public_base_url="http://x")


async def _succeeded_at_stripe(
    runtime: Runtime, deps: PaymentDeps, fee: int, recorded: bool = True
) -> Any:
    """A card attempt whose PaymentIntent succeeded at the gateway (a fake one: localstripe's
    own webhooks would settle it first); ours is still processing."""
    o = await place_order(runtime, price=12800)
    async with runtime.sessions() as s, s.begin():  # no hold sweeper of a live test server
        await s.execute(  # may expire it meanwhile (the fast path would then rightly decline)
            update(commerce.Order).where(commerce.Order.id == o.id).values(hold_expires_at=_FAR)
        )
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s, deps, o.id, "card", principal=AGENT, request_key=uuid.uuid4().hex,
            now=runtime.clock.now(),
        )  # fmt: skip
        intent_id = f"pi_{uuid.uuid4().hex[:14]}"
        if recorded:  # what charge_card records first; else still pending with no intent
            p.intent_id, p.status = intent_id, "processing"
    assert isinstance(deps.gateway, FakeGateway)
    deps.gateway.intents[intent_id] = Intent(
        id=intent_id, status="succeeded", amount=p.amount, currency=p.currency,
        metadata={"payment_id": p.id}, charge_id=f"ch_{intent_id}",
        balance_transaction_id=f"txn_{intent_id}", fee=fee,
    )  # fmt: skip
    return o, p.id, intent_id


def _event(pid: str, intent_id: str) -> dict[str, Any]:
    return event("payment_intent.succeeded", {"id": intent_id, "metadata": {"payment_id": pid}})


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str | None]]:
    """What settle_pg.settle answered, per payment, call by call (None: declined, the plain
    path ran). Per payment: a live test server in this process settles others' meanwhile."""
    said: dict[str, list[str | None]] = {}
    real = settle_pg.settle

    async def spy(*args: Any, **kwargs: Any) -> str | None:
        answer = await real(*args, **kwargs)
        said.setdefault(args[3].id, []).append(answer)
        return answer

    monkeypatch.setattr(settle_pg, "settle", spy)
    return said


@pytest.mark.parametrize(("fee", "recorded"), [(0, True), (315, True), (0, False)])
async def test_fast_and_plain_settles_write_the_same(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, fee: int, recorded: bool
) -> None:
    assert runtime.drivers is not None
    said = _spy(monkeypatch)
    deps, now = _deps(), runtime.clock.now()
    fast_order, fast_pid, fast_intent = await _succeeded_at_stripe(runtime, deps, fee, recorded)
    plain_order, plain_pid, plain_intent = await _succeeded_at_stripe(runtime, deps, fee, recorded)
    fast_ev, plain_ev = _event(fast_pid, fast_intent), _event(plain_pid, plain_intent)
    fast = await handle_event(
        runtime.sessions, deps, fast_ev, now=now, reads=runtime.autocommit(),
        drivers=runtime.drivers,
    )  # fmt: skip
    plain = await handle_event(runtime.sessions, deps, plain_ev, now=now)
    assert fast == plain == "settled"
    fast_rows = await _written(runtime, fast_order.id)
    plain_rows = await _written(runtime, plain_order.id)
    assert fast_rows["payments"][0]["intent_id"] == fast_intent
    assert plain_rows["payments"][0]["intent_id"] == plain_intent
    for rows in (fast_rows, plain_rows):
        for p in rows["payments"]:  # each attempt's own intent, charge and fee ids
            for own in ("intent_id", "charge_id", "balance_transaction_id", "pay_token",
                        "created_at", "pay_token_expires_at"):  # fmt: skip
                p.pop(own)
    assert fast_rows == plain_rows
    assert fast_rows["order"][0] == "paid" and fast_rows["order_paid_messages"] == 1
    assert sum(e["amount"] for e in fast_rows["entries"]) == 0
    # a re-delivery (a new event id) changes nothing; the same id again is a duplicate
    before = await _written(runtime, fast_order.id)
    repeat = _event(fast_pid, fast_intent)
    for ev, answer in ((repeat, "settled"), (fast_ev, "duplicate"), (repeat, "duplicate")):
        again = await handle_event(
            runtime.sessions, deps, ev, now=now, reads=runtime.autocommit(),
            drivers=runtime.drivers,
        )  # fmt: skip
        assert again == answer
    assert await _written(runtime, fast_order.id) == before
    # the first only: the repeat is settled for good (no re-fetch, test_webhook_no_refetch.py)
    # and duplicates end earlier
    assert said[fast_pid] == ["settled"]
    receipts = await count(
        runtime, WebhookReceipt, WebhookReceipt.event_id.in_([fast_ev["id"], repeat["id"]])
    )
    assert receipts == 2


async def test_a_cancelled_order_goes_the_plain_way(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order was cancelled meanwhile: the function declines (nothing written) and the
    plain path books the capture and refunds it automatically, as it always did."""
    assert runtime.drivers is not None
    said = _spy(monkeypatch)
    deps, now = _deps(), runtime.clock.now()
    order, pid, intent_id = await _succeeded_at_stripe(runtime, deps, 0)
    async with runtime.sessions() as s, s.begin():
        await commerce.transition(
            s, order.id, commerce.OrderStatus.CANCELLED, actor="system", channel="system",
            reason="test", now=now,
        )  # fmt: skip
    outcome = await handle_event(
        runtime.sessions, deps, _event(pid, intent_id), now=now, reads=runtime.autocommit(),
        drivers=runtime.drivers,
    )  # fmt: skip
    assert outcome == "settled" and said[pid] == [None]
    async with runtime.sessions() as s:
        kinds = list(
            await s.scalars(select(PaymentIncident.kind).where(PaymentIncident.payment_id == pid))
        )
    rows = await _written(runtime, order.id)
    assert kinds == ["auto_refund"]
    assert rows["payments"][0]["status"] == "succeeded"
    assert rows["payments"][0]["refunded_amount"] == rows["payments"][0]["amount"]
    assert rows["order_paid_messages"] == 0
