"""A PaymentIntent event for a payment settled for good is recorded without asking Stripe
(payments/settle_pg.py `settled_before`): the same answer and the same rows as the plain path,
which re-fetches; a payment whose gateway facts are incomplete, or whose row changed since it
was read, is still re-fetched."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from core.runtime import Runtime
from payments import PaymentDeps, handle_event, settle_pg
from payments.errors import PaymentOutcomeUnknown
from payments.models import Payment, WebhookReceipt
from tests.integration.payments.helpers import count, event
from tests.integration.payments.test_carrier_fast_path import _written
from tests.integration.payments.test_settle_fast_path import _deps, _event, _succeeded_at_stripe
from tests.unit.payments.fakes import FakeGateway


async def _fast(runtime: Runtime, deps: PaymentDeps, ev: dict[str, Any]) -> str:
    return await handle_event(
        runtime.sessions, deps, ev, now=runtime.clock.now(), reads=runtime.autocommit(),
        drivers=runtime.drivers,
    )  # fmt: skip


async def _settled(runtime: Runtime, deps: PaymentDeps, fee: int = 315) -> tuple[Any, str, str]:
    order, pid, intent_id = await _succeeded_at_stripe(runtime, deps, fee)
    assert await _fast(runtime, deps, _event(pid, intent_id)) == "settled"
    return order, pid, intent_id


def _unreachable(deps: PaymentDeps) -> FakeGateway:
    """Every re-fetch from now on would fail (a 503): an answer means none was made."""
    assert isinstance(deps.gateway, FakeGateway)
    deps.gateway.faults[:] = ["before"] * 10
    return deps.gateway


@pytest.mark.parametrize(
    "kind", ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled"]
)
async def test_a_redelivery_is_answered_as_the_plain_path_without_stripe(
    runtime: Runtime, kind: str
) -> None:
    deps = _deps()
    fast_order, fast_pid, fast_intent = await _settled(runtime, deps)
    _, plain_pid, plain_intent = await _settled(runtime, deps)
    plain_ev = event(kind, {"id": plain_intent, "metadata": {"payment_id": plain_pid}})
    plain = await handle_event(runtime.sessions, deps, plain_ev, now=runtime.clock.now())
    before = await _written(runtime, fast_order.id)
    gateway = _unreachable(deps)
    fast_ev = event(kind, {"id": fast_intent, "metadata": {"payment_id": fast_pid}})
    assert await _fast(runtime, deps, fast_ev) == plain == "settled"
    assert await _fast(runtime, deps, fast_ev) == "duplicate"
    assert gateway.faults == ["before"] * 10  # Stripe was not asked
    assert await _written(runtime, fast_order.id) == before
    receipts = WebhookReceipt.event_id.in_([fast_ev["id"], plain_ev["id"]])
    assert await count(runtime, WebhookReceipt, receipts) == 2


async def test_facts_still_missing_are_asked_for(runtime: Runtime) -> None:
    """No fee recorded yet (Stripe had none to tell): the re-fetch may bring it."""
    deps = _deps()
    _, pid, intent_id = await _settled(runtime, deps)
    async with runtime.sessions() as s, s.begin():
        await s.execute(update(Payment).where(Payment.id == pid).values(fee_amount=None))
    _unreachable(deps)
    with pytest.raises(PaymentOutcomeUnknown):  # the 503 Stripe retries
        await _fast(runtime, deps, _event(pid, intent_id))
    assert isinstance(deps.gateway, FakeGateway)
    deps.gateway.faults.clear()
    assert await _fast(runtime, deps, _event(pid, intent_id)) == "settled"
    async with runtime.sessions() as s:
        assert (await s.get_one(Payment, pid)).fee_amount == 315


async def test_a_row_changed_since_read_declines_and_writes_nothing(runtime: Runtime) -> None:
    assert runtime.drivers is not None
    deps = _deps()
    _, pid, intent_id = await _settled(runtime, deps)
    async with runtime.sessions() as s:
        row = await s.get_one(Payment, pid)
        s.expunge(row)
    assert settle_pg.settled_for_good(row, intent_id)
    assert not settle_pg.settled_for_good(row, "pi_other")
    async with runtime.sessions() as s, s.begin():  # the row changed after it was read
        await s.execute(update(Payment).where(Payment.id == pid).values(fee_amount=316))
    ev = _event(pid, intent_id)
    now = runtime.clock.now()
    said = await settle_pg.settled_before(
        runtime.drivers, ev["id"], ev["type"], row, intent_id, now=now
    )
    assert said is None
    assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 0
    assert await settle_pg.settled_before(
        runtime.drivers, ev["id"], "charge.refunded", row, intent_id, now=now
    ) is None  # fmt: skip
