"""A PaymentIntent event for a payment settled for good is recorded without asking Stripe
(payments/settle_pg.py `look_up`): the same answer and the same rows as the plain path,
which re-fetches; a payment whose gateway facts are incomplete, or whose row changed since it
was read, is still re-fetched."""

from __future__ import annotations

import asyncio
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


async def _look(runtime: Runtime, ev_id: str, kind: str, pid: str, intent_id: str) -> Any:
    assert runtime.drivers is not None
    now = runtime.clock.now()
    return await settle_pg.look_up(runtime.drivers, ev_id, kind, pid, intent_id, now=now)


async def test_the_look_up_says_settled_for_good_as_the_python_predicate(runtime: Runtime) -> None:
    """`look_up` records a receipt exactly where `settled_for_good` says no re-fetch could
    change anything; elsewhere it writes nothing and hands back the row as read."""
    deps = _deps()
    _, pid, intent_id = await _settled(runtime, deps)
    ev = _event(pid, intent_id)
    cases = [  # (event type, intent named, column changed first)
        ("charge.refunded", intent_id, {}),
        ("payment_intent.succeeded", "pi_other", {}),
        ("payment_intent.succeeded", intent_id, {"fee_amount": None}),
        ("payment_intent.succeeded", intent_id, {"balance_transaction_id": None}),
        ("payment_intent.canceled", intent_id, {"status": "refunded"}),
    ]
    for kind, intent, change in cases:
        async with runtime.sessions() as s, s.begin():
            original = await s.get_one(Payment, pid)
            kept = {k: getattr(original, k) for k in change}
            if change:
                await s.execute(update(Payment).where(Payment.id == pid).values(**change))
        answer, row = await _look(runtime, ev["id"], kind, pid, intent)
        assert answer is None and row is not None and row.id == pid
        assert not (kind.startswith("payment_intent.") and settle_pg.settled_for_good(row, intent))
        assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 0
        if kept:
            async with runtime.sessions() as s, s.begin():
                await s.execute(update(Payment).where(Payment.id == pid).values(**kept))
    assert await _look(runtime, ev["id"], ev["type"], "p_missing", intent_id) == (None, None)
    async with runtime.sessions() as s:
        assert settle_pg.settled_for_good(await s.get_one(Payment, pid), intent_id)
    assert await _look(runtime, ev["id"], ev["type"], pid, intent_id) == ("settled", None)
    assert await _look(runtime, ev["id"], ev["type"], pid, intent_id) == ("duplicate", None)
    assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 1


async def test_two_racing_deliveries_record_one_receipt(runtime: Runtime) -> None:
    deps = _deps()
    _, pid, intent_id = await _settled(runtime, deps)
    ev = _event(pid, intent_id)
    looks = [_look(runtime, ev["id"], ev["type"], pid, intent_id) for _ in range(8)]
    answers = sorted(answer for answer, _ in await asyncio.gather(*looks))
    assert answers == ["duplicate"] * 7 + ["settled"]
    assert await count(runtime, WebhookReceipt, WebhookReceipt.event_id == ev["id"]) == 1


async def test_a_named_payment_we_do_not_hold_falls_back_to_the_intent(runtime: Runtime) -> None:
    """Metadata naming no payment of ours (another environment's id, say): the intent still
    says whose it is, on the one-statement look-up as on the plain path."""
    deps = _deps()
    _, _, intent_id = await _settled(runtime, deps)
    obj = {"id": intent_id, "metadata": {"payment_id": "p_not_ours"}}
    plain = await handle_event(
        runtime.sessions, deps, event("payment_intent.succeeded", obj), now=runtime.clock.now()
    )
    assert plain != "ignored"
    assert await _fast(runtime, deps, event("payment_intent.succeeded", obj)) == plain
