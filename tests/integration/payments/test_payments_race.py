"""Two payments of one order succeeding at the same moment, on PostgreSQL and localstripe:
exactly one pays the order, the other is refunded automatically and recorded."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import OutboxMessage
from core.principal import Principal
from core.runtime import Runtime
from payments import PaymentDeps, StripeGateway, carrier, charge_card, start_payment
from payments.errors import AlreadyPaid
from payments.models import Payment, PaymentIncident
from payments.orders import CommerceOrders, MarkPaidOutcome, OrderInfo
from tests.integration.payments.helpers import AGENT, captures, order_status, place_order
from tests.stripe_fixtures import LocalStripe


@dataclass
class RacingOrders:
    """The real commerce port; both settlements are held at the door of `mark_paid` until each
    has passed every check before it, so they reach commerce's order lock together."""

    inner: CommerceOrders = field(default_factory=CommerceOrders)
    barrier: asyncio.Barrier = field(default_factory=lambda: asyncio.Barrier(2))
    outcomes: list[str] = field(default_factory=list)

    async def get(
        self, session: AsyncSession, order_id: str, principal: Principal | None
    ) -> OrderInfo:
        return await self.inner.get(session, order_id, principal)

    async def mark_paid(
        self,
        session: AsyncSession,
        order_id: str,
        *,
        actor: str,
        channel: str,
        reason: str,
        now: datetime,
    ) -> MarkPaidOutcome:
        await asyncio.wait_for(self.barrier.wait(), 20)
        outcome = await self.inner.mark_paid(
            session, order_id, actor=actor, channel=channel, reason=reason, now=now
        )
        self.outcomes.append(outcome)
        return outcome

    async def refunded(
        self, session: AsyncSession, order_id: str, *, actor: str, reason: str, now: datetime
    ) -> None:
        await self.inner.refunded(session, order_id, actor=actor, reason=reason, now=now)


async def test_concurrent_second_payment_is_refunded_and_recorded(
    runtime: Runtime, localstripe: LocalStripe
) -> None:
    orders = RacingOrders()
    gateway = StripeGateway("sk_test_hotline", api_base=localstripe.url)
    deps = PaymentDeps(orders=orders, gateway=gateway, public_base_url="http://unused")
    order = await place_order(runtime)
    now = runtime.clock.now()
    links: list[Any] = []
    async with runtime.sessions() as s, s.begin():
        for _ in range(2):
            p = await start_payment(
                s, deps, order.id, "card", principal=AGENT, request_key=uuid.uuid4().hex, now=now
            )
            links.append(p)

    async def pay(token: str) -> None:
        await charge_card(
            runtime.sessions,
            deps,
            token,
            localstripe.create_card_method("4242424242424242"),
            now=now,
        )

    await asyncio.gather(*(pay(p.pay_token) for p in links))

    # canary: both settlements really reached commerce together (else this proves nothing)
    assert sorted(orders.outcomes) == ["already_paid", "paid"]
    assert await order_status(runtime, order.id) == "paid"
    async with runtime.sessions() as s:
        rows = [await s.get_one(Payment, p.id) for p in links]
        incidents = list(
            await s.scalars(select(PaymentIncident).where(PaymentIncident.order_id == order.id))
        )
        facts = list(
            await s.scalars(
                select(OutboxMessage.payload).where(OutboxMessage.topic == "payment.incident")
            )
        )
    assert all(r.status == "succeeded" for r in rows)
    kept = [r for r in rows if r.refunded_amount == 0]
    refunded = [r for r in rows if r.refunded_amount == r.amount]
    assert len(kept) == 1 and len(refunded) == 1, [(r.id, r.refunded_amount) for r in rows]
    second = refunded[0]
    intent = await gateway.retrieve_intent(second.intent_id or "")
    assert intent.amount_refunded == second.amount, "the money went back at the gateway"
    kept_intent = await gateway.retrieve_intent(kept[0].intent_id or "")
    assert kept_intent.amount_refunded == 0
    assert [(i.kind, i.payment_id) for i in incidents] == [("auto_refund", second.id)]
    assert kept[0].id in incidents[0].detail
    assert {
        "incident_id": incidents[0].id,
        "payment_id": second.id,
        "order_id": order.id,
        "kind": "auto_refund",
    } in facts
    for r in rows:
        assert await captures(runtime, r.id) == 1


@dataclass
class SlowToMarkOrders(RacingOrders):
    """Both requests read the order together; the first to charge then takes its time to
    tell commerce, so a second that did not wait for it would charge as well."""

    async def get(
        self, session: AsyncSession, order_id: str, principal: Principal | None
    ) -> OrderInfo:
        info = await self.inner.get(session, order_id, principal)
        await asyncio.wait_for(self.barrier.wait(), 20)
        return info

    async def mark_paid(
        self,
        session: AsyncSession,
        order_id: str,
        *,
        actor: str,
        channel: str,
        reason: str,
        now: datetime,
    ) -> MarkPaidOutcome:
        await asyncio.sleep(0.3)
        outcome = await self.inner.mark_paid(
            session, order_id, actor=actor, channel=channel, reason=reason, now=now
        )
        self.outcomes.append(outcome)
        return outcome


async def test_two_carrier_clicks_with_two_keys_charge_once(runtime: Runtime) -> None:
    """Found in the acceptance run: four concurrent `carrier_billing` payments of one order
    (a client making a new Idempotency-Key per click) were all charged, three refunded again
    and three payment tickets opened. One customer's carrier charges now take turns on the
    phone account row, so the second sees the first and is 409 already-paid."""
    orders = SlowToMarkOrders()
    deps = PaymentDeps(orders=orders, gateway=None, public_base_url="http://unused")
    order = await place_order(runtime)
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s, order.customer_id, currency="CNY", now=runtime.clock.now(), balance=100_000
        )

    async def pay() -> str:
        try:
            async with runtime.sessions() as s, s.begin():
                p = await start_payment(
                    s,
                    deps,
                    order.id,
                    "carrier_billing",
                    principal=AGENT,
                    request_key=uuid.uuid4().hex,
                    now=runtime.clock.now(),
                )
                return p.status
        except AlreadyPaid:
            return "already-paid"

    assert sorted(await asyncio.gather(pay(), pay())) == ["already-paid", "succeeded"]
    assert orders.outcomes == ["paid"]
    async with runtime.sessions() as s:
        rows = list(await s.scalars(select(Payment).where(Payment.order_id == order.id)))
        incidents = await s.scalar(select(func.count()).where(PaymentIncident.order_id == order.id))
    assert [(r.status, r.refunded_amount) for r in rows] == [("succeeded", 0)]
    assert incidents == 0
