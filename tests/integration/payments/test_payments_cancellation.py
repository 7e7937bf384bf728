"""A cancelled order through the outbox (`order.cancelled` -> api.payments_events): what was
captured is refunded once by the actor, however many orders are cancelled and however old the
message is (the scan it replaces read 100 rows of the last 24 hours), and unused pay links of
a cancelled order are voided. A cancellation job lost after the relay sent it is sent again.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

import commerce
import payments
import payments.cancellations
from api import payments_events
from api.composition import build_services
from core.broker import InProcessSender
from core.outbox import OutboxMessage, emit, relay_once
from core.runtime import Runtime
from payments import PaymentDeps, carrier, start_payment
from payments.models import Payment, PhoneAccount, Refund
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, order_status, place_order

DEPS = PaymentDeps(orders=CommerceOrders(), gateway=None, public_base_url="http://x")


async def paid_by_carrier(runtime: Runtime, *, price: int = 5000) -> commerce.Order:
    order = await place_order(runtime, price=price)
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(s, order.customer_id, currency="CNY", now=now, balance=20000)
        await start_payment(
            s, DEPS, order.id, "carrier_billing", principal=AGENT, request_key="k", now=now
        )
    return order


async def cancel(runtime: Runtime, order_id: str) -> None:
    async with runtime.sessions() as s, s.begin():
        await commerce.cancel_order(
            s, order_id, AGENT, reason="caller changed plans", now=runtime.clock.now()
        )


async def relay_all(runtime: Runtime, *, now_offset: timedelta = timedelta(0)) -> int:
    """The in-process relay with the same handlers the API process wires (api.outbox_routes)."""
    sender = InProcessSender(payments_events.handlers(build_services(runtime)))
    total = 0
    while sent := await relay_once(
        runtime.sessions, sender, now=runtime.clock.now() + now_offset, batch=100
    ):
        total += sent
    return total


async def refunds_of(runtime: Runtime, order_ids: list[str]) -> dict[str, list[int]]:
    async with runtime.sessions() as s:
        rows = await s.execute(
            select(Refund.order_id, Refund.amount).where(Refund.order_id.in_(order_ids))
        )
    found: dict[str, list[int]] = {o: [] for o in order_ids}
    for order_id, amount in rows:
        found[order_id].append(amount)
    return found


async def test_cancelled_paid_order_is_refunded_once_by_the_actor(runtime: Runtime) -> None:
    order = await paid_by_carrier(runtime)
    assert await order_status(runtime, order.id) == "paid"
    await cancel(runtime, order.id)
    await relay_all(runtime)
    async with runtime.sessions() as s, s.begin():  # delivered again (at-least-once)
        emit(s, commerce.TOPIC_ORDER_CANCELLED, {"order_id": order.id}, now=runtime.clock.now())
    await relay_all(runtime)
    assert (await refunds_of(runtime, [order.id])) == {order.id: [order.total]}
    async with runtime.sessions() as s:
        acct = await s.scalar(
            select(PhoneAccount).where(PhoneAccount.customer_id == order.customer_id)
        )
    assert acct is not None and acct.balance == 20000


async def test_many_cancellations_and_old_messages_are_all_refunded(runtime: Runtime) -> None:
    """More cancellations than one batch of the old scan (100), and some whose messages are
    older than its 24-hour window (a worker outage): every one is refunded."""
    orders = [await paid_by_carrier(runtime, price=1000 + i) for i in range(130)]
    for order in orders:
        await cancel(runtime, order.id)
    ids = [o.id for o in orders]
    async with runtime.sessions() as s, s.begin():  # the first ten waited out a 3-day outage
        old = runtime.clock.now() - timedelta(days=3)
        await s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.topic == commerce.TOPIC_ORDER_CANCELLED,
                OutboxMessage.payload["order_id"].as_string().in_(ids[:10]),
            )
            .values(created_at=old, available_at=old)
        )
    await relay_all(runtime)
    refunds = await refunds_of(runtime, ids)
    assert {o.id: refunds[o.id] for o in orders} == {o.id: [o.total] for o in orders}
    async with runtime.sessions() as s:
        pending = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == commerce.TOPIC_ORDER_CANCELLED,
                OutboxMessage.payload["order_id"].as_string().in_(ids),
                OutboxMessage.sent_at.is_(None),
            )
        )
    assert pending == 0


async def test_cancelling_an_unpaid_order_voids_its_pay_link(runtime: Runtime) -> None:
    order = await place_order(runtime)
    now = runtime.clock.now()
    async with runtime.sessions() as s, s.begin():
        payment = Payment(
            order_id=order.id,
            order_number=order.number,
            customer_id=order.customer_id,
            method="card",
            status="pending",
            amount=order.total,
            currency=order.currency,
            subtotal=order.subtotal,
            booking_fee=order.booking_fee,
            delivery_fee=order.delivery_fee,
            refunded_amount=0,
            disputed_amount=0,
            request_key=f"card:{order.id}:void",
            actor=AGENT.actor,
            pay_token=f"tok-{order.id}",
            pay_token_expires_at=order.hold_expires_at,
            created_at=now,
            updated_at=now,
        )
        s.add(payment)
    await cancel(runtime, order.id)
    await relay_all(runtime)
    async with runtime.sessions() as s:
        row = await s.get_one(Payment, payment.id)
    assert row.status == "canceled"
    assert (await refunds_of(runtime, [order.id])) == {order.id: []}


class LosingBroker:
    """Accepts the message and loses it (Redis restarted without its data)."""

    topics = frozenset({commerce.TOPIC_ORDER_CANCELLED})

    async def send(self, message_id: str, topic: str, payload: dict[str, object]) -> None:
        return None


async def test_a_lost_cancellation_job_is_sent_again_and_refunds(runtime: Runtime) -> None:
    order = await paid_by_carrier(runtime)
    await cancel(runtime, order.id)
    now = runtime.clock.now()
    await relay_once(runtime.sessions, LosingBroker(), now=now)  # marked sent, job gone
    assert (await refunds_of(runtime, [order.id])) == {order.id: []}
    assert await payments.redeliver_lost_cancellations(runtime.sessions, now) == 0  # too soon
    later = now + payments.cancellations.REDELIVER_AFTER + timedelta(seconds=1)
    assert await payments.redeliver_lost_cancellations(runtime.sessions, later) >= 1
    await relay_all(runtime, now_offset=later - now)
    assert (await refunds_of(runtime, [order.id])) == {order.id: [order.total]}
    # Refunded: nothing left to send again.
    again = later + payments.cancellations.REDELIVER_AFTER * 2
    async with runtime.sessions() as s:
        left = await s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.topic == commerce.TOPIC_ORDER_CANCELLED,
                OutboxMessage.payload["order_id"].as_string() == order.id,
                OutboxMessage.sent_at.is_(None),
            )
        )
    assert left == 0
    await payments.redeliver_lost_cancellations(runtime.sessions, again)
    async with runtime.sessions() as s:
        row = await s.scalar(
            select(OutboxMessage).where(
                OutboxMessage.topic == commerce.TOPIC_ORDER_CANCELLED,
                OutboxMessage.payload["order_id"].as_string() == order.id,
            )
        )
    assert row is not None and row.sent_at is not None and row.attempts == 1
