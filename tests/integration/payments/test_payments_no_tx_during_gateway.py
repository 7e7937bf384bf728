"""No gateway call while a database transaction or row lock is held (ARCHITECTURE), and the
claims that replace the lock keep the races safe, against PostgreSQL and localstripe.

`Watchful` wraps the Stripe adapter: on every call it asks PostgreSQL, from a connection of its
own, whether any connection of the use cases' pool (tagged by application_name) has a
transaction open or holds a lock on `payments` or `refunds`, and whether the order's payment
rows can be locked with FOR UPDATE NOWAIT. (Only the tagged pool counts for the first two: the
live pay server of other tests may be settling something of its own meanwhile.)"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import commerce
from core.db import make_engine, make_sessionmaker
from core.runtime import Runtime
from payments import (
    PaymentDeps,
    StripeGateway,
    charge_card,
    ensure_setup_intent,
    handle_event,
    on_order_cancelled,
    refresh_from_gateway,
    refund_order,
    start_payment,
    sweep_once,
)
from payments.models import Payment, PaymentHistory, Refund
from payments.orders import CommerceOrders
from tests.integration.payments.helpers import AGENT, captures, event, order_status, place_order
from tests.integration.payments.test_payments_not_payable import intents_for
from tests.stripe_fixtures import LocalStripe
from tests.stripe_stub import run_stripe_stub

APP = "hotline-payments-under-watch"
Sessions = async_sessionmaker[AsyncSession]


class Watchful:
    """The real adapter, checked on every call for open transactions and held locks."""

    def __init__(self, inner: StripeGateway, watcher: Sessions) -> None:
        self.inner, self.watcher = inner, watcher
        self.order_id: str | None = None
        self.calls: list[str] = []
        self.violations: list[str] = []

    async def _check(self, call: str) -> None:
        self.calls.append(call)
        async with self.watcher() as s, s.begin():
            open_tx = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = :app AND xact_start IS NOT NULL"
                ),
                {"app": APP},
            )
            locks = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE a.application_name = :app"
                    " AND l.relation IN ('payments'::regclass, 'refunds'::regclass)"
                ),
                {"app": APP},
            )
            if open_tx or locks:
                self.violations.append(f"{call}: {open_tx} transaction(s), {locks} lock(s) open")
            if self.order_id is None:
                return
            try:
                async with s.begin_nested():
                    await s.execute(
                        select(Payment.id)
                        .where(Payment.order_id == self.order_id)
                        .with_for_update(nowait=True)
                    )
            except DBAPIError:
                self.violations.append(f"{call}: a payment row of the order is locked")

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(target):
            return target

        async def checked(*args: Any, **kwargs: Any) -> Any:
            await self._check(name)
            return await target(*args, **kwargs)

        return checked


@pytest.fixture
async def app_sessions(pg_url: str) -> AsyncIterator[Sessions]:
    """The use cases' sessionmaker: a small pool of its own, its connections tagged."""
    engine = make_engine(
        pg_url,
        pool_size=3,
        max_overflow=2,
        connect_args={"server_settings": {"application_name": APP}},
    )
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def watch(pg_url: str, localstripe: LocalStripe) -> AsyncIterator[Watchful]:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    yield Watchful(
        StripeGateway("sk_test_hotline", api_base=localstripe.url), make_sessionmaker(engine)
    )
    await engine.dispose()


def _deps(gateway: Any) -> PaymentDeps:
    return PaymentDeps(orders=CommerceOrders(), gateway=gateway, public_base_url="http://unused")


async def _pay_link(runtime: Runtime, deps: PaymentDeps) -> tuple[Any, Payment]:
    order = await place_order(runtime)
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s,
            deps,
            order.id,
            "card",
            principal=AGENT,
            request_key=uuid.uuid4().hex,
            now=runtime.clock.now(),
        )
    return order, p


async def test_no_transaction_or_lock_is_held_during_any_gateway_call(
    runtime: Runtime, app_sessions: Sessions, watch: Watchful, localstripe: LocalStripe
) -> None:
    deps = _deps(watch)
    now = runtime.clock.now()
    order, p = await _pay_link(runtime, deps)
    _, second = await _pay_link_for(runtime, deps, order.id)
    watch.order_id = order.id
    token = p.pay_token or ""
    await ensure_setup_intent(app_sessions, deps, token, now)  # the pay page
    pm = localstripe.create_card_method("4242424242424242")
    paid, _ = await charge_card(app_sessions, deps, token, pm, now=now)
    assert paid.status == "succeeded"
    await refresh_from_gateway(app_sessions, deps, paid, actor="customer:x", now=now)
    ev = event("payment_intent.succeeded", {"id": paid.intent_id, "metadata": {"payment_id": p.id}})
    assert await handle_event(app_sessions, deps, ev, now=now) == "settled"
    refund = await refund_order(
        app_sessions,
        deps,
        order.id,
        1000,
        reason="seat changed",
        ticket_id=None,
        actor=AGENT.actor,
        request_key=uuid.uuid4().hex,
        now=now,
    )
    assert refund.status == "succeeded"
    # What the sweeper asks about: a second attempt whose create answer was lost (the order
    # is paid already, so it is refunded automatically) and a refund whose answer was lost.
    async with runtime.sessions() as s, s.begin():
        await s.execute(
            update(Payment)
            .where(Payment.id == second.id)
            .values(
                status="unknown", payment_method=localstripe.create_card_method("4242424242424242")
            )
        )
        lost = Refund(
            payment_id=p.id,
            order_id=order.id,
            amount=500,
            currency=paid.currency,
            status="unknown",
            reason="lost answer",
            request_key=f"lost:{uuid.uuid4().hex}",
            actor=AGENT.actor,
            created_at=now,
            updated_at=now,
        )
        s.add(lost)
        await s.execute(update(Payment).where(Payment.id == p.id).values(refunded_amount=1500))
    await sweep_once(app_sessions, deps, now)
    async with runtime.sessions() as s:
        again = await s.get_one(Payment, second.id)
        assert (again.status, again.refunded_amount) == ("succeeded", again.amount)
        assert (await s.get_one(Refund, lost.id)).status == "succeeded"
    async with runtime.sessions() as s, s.begin():
        await commerce.cancel_order(s, order.id, AGENT, reason="changed plans", now=now)
    assert await on_order_cancelled(app_sessions, deps, order.id, now) == "refunded"
    async with runtime.sessions() as s:
        assert (await s.get_one(Payment, p.id)).refunded_amount == paid.amount
    assert watch.calls.count("create_setup_intent") == 1
    assert watch.calls.count("create_intent") >= 2  # the charge, the sweeper's second attempt
    assert watch.calls.count("retrieve_intent") >= 2  # the page return, the webhook
    assert watch.calls.count("refund") >= 4  # staff, lost, automatic, cancellation
    assert watch.violations == []


async def _pay_link_for(runtime: Runtime, deps: PaymentDeps, order_id: str) -> tuple[Any, Payment]:
    async with runtime.sessions() as s, s.begin():
        p = await start_payment(
            s,
            deps,
            order_id,
            "card",
            principal=AGENT,
            request_key=uuid.uuid4().hex,
            now=runtime.clock.now(),
        )
    return None, p


async def test_two_concurrent_charges_create_one_intent_and_one_capture(
    runtime: Runtime, app_sessions: Sessions, watch: Watchful, localstripe: LocalStripe
) -> None:
    deps = _deps(watch.inner)
    order, p = await _pay_link(runtime, deps)
    now = runtime.clock.now()
    results = await asyncio.gather(
        *(
            charge_card(
                app_sessions,
                deps,
                p.pay_token or "",
                localstripe.create_card_method("4242424242424242"),
                now=now,
            )
            for _ in range(4)
        )
    )
    assert intents_for(p.id) == 1, "one PaymentIntent, whatever the double submit"
    assert await captures(runtime, p.id) == 1
    assert await order_status(runtime, order.id) == "paid"
    statuses = sorted(r[0].status for r in results)
    # the winner settled; the others got the state they found (the claim, or its outcome)
    assert statuses.count("succeeded") >= 1
    assert set(statuses) <= {"processing", "succeeded"}
    async with runtime.sessions() as s:
        row = await s.get_one(Payment, p.id)
        claims = await s.scalar(
            select(text("count(*)"))
            .select_from(PaymentHistory)
            .where(PaymentHistory.payment_id == p.id, PaymentHistory.to_status == "processing")
        )
    assert row.status == "succeeded" and row.refunded_amount == 0 and claims == 1


async def test_webhook_and_page_return_racing_settle_once(
    runtime: Runtime, app_sessions: Sessions, watch: Watchful, localstripe: LocalStripe
) -> None:
    deps = _deps(watch.inner)
    order, p = await _pay_link(runtime, deps)
    now = runtime.clock.now()
    pm = localstripe.create_card_method("4000002500003155")  # 3-D Secure
    pending, secret = await charge_card(app_sessions, deps, p.pay_token or "", pm, now=now)
    assert pending.status == "requires_action" and secret
    localstripe.authenticate_3ds(pending.intent_id or "", secret)
    obj = {"id": pending.intent_id, "metadata": {"payment_id": p.id}}

    async def webhook() -> Any:
        return await handle_event(
            app_sessions, deps, event("payment_intent.succeeded", obj), now=now
        )

    async def page_return() -> Any:
        return await refresh_from_gateway(app_sessions, deps, pending, actor="customer:x", now=now)

    await asyncio.gather(webhook(), page_return(), webhook(), page_return())
    assert await captures(runtime, p.id) == 1
    assert await order_status(runtime, order.id) == "paid"
    async with runtime.sessions() as s:
        moves = await s.scalar(
            select(text("count(*)"))
            .select_from(PaymentHistory)
            .where(PaymentHistory.payment_id == p.id, PaymentHistory.to_status == "succeeded")
        )
        row = await s.get_one(Payment, p.id)
    assert moves == 1 and row.status == "succeeded" and row.refunded_amount == 0


async def test_charge_left_processing_by_a_crash_is_settled_by_the_sweeper_once(
    runtime: Runtime, app_sessions: Sessions, localstripe: LocalStripe
) -> None:
    """Claimed and charged at Stripe, then the process died before recording: `processing`
    with no intent. The sweeper waits for STALE, then asks with the same key `pi:<id>` and
    Stripe (here the stub in front of localstripe, which replays by key) answers that intent."""

    class Crash(Exception):
        pass

    with run_stripe_stub(localstripe.url) as stub:
        gateway = StripeGateway("sk_test_hotline", api_base=stub.url)

        class CrashAfterCharge:
            def __getattr__(self, name: str) -> Any:
                return getattr(gateway, name)

            async def create_intent(self, **kwargs: Any) -> Any:
                await gateway.create_intent(**kwargs)
                raise Crash

        deps = _deps(gateway)
        order, p = await _pay_link(runtime, deps)
        now = runtime.clock.now()
        pm = localstripe.create_card_method("4242424242424242")
        with pytest.raises(Crash):
            await charge_card(
                app_sessions, _deps(CrashAfterCharge()), p.pay_token or "", pm, now=now
            )
        async with runtime.sessions() as s:
            row = await s.get_one(Payment, p.id)
        assert (row.status, row.intent_id, row.payment_method) == ("processing", None, pm)
        await sweep_once(app_sessions, deps, now)  # not stale yet: it may still be answering
        async with runtime.sessions() as s:
            assert (await s.get_one(Payment, p.id)).status == "processing"
        await sweep_once(app_sessions, deps, now + timedelta(minutes=11))
        async with runtime.sessions() as s:
            row = await s.get_one(Payment, p.id)
        assert row.status == "succeeded" and row.intent_id is not None
        assert stub.forwarded_writes("/v1/payment_intents") == 1, "one PaymentIntent, never two"
        assert stub.replied(f"pi:{p.id}")["id"] == row.intent_id
    assert intents_for(p.id) == 1 and await captures(runtime, p.id) == 1
    assert await order_status(runtime, order.id) == "paid"
