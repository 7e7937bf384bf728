"""Fixtures of the fulfillment integration tests: a live local partner, an order source, and
a job context wired to the session's PostgreSQL database."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from core.broker import InProcessSender
from core.clock import TravelClock
from core.outbox import relay_once
from core.runtime import Runtime
from core.settings import Settings
from fulfillment import (
    FulfillmentContext,
    HttpPartnerClient,
    OrderItem,
    OrderSnapshot,
    Partner,
    PartnerIn,
    RetryPolicy,
    register_partner,
)
from fulfillment import actors as fulfillment_actors
from tests.partner_server import PartnerServer


@dataclass
class StubOrders:
    """Stands in for the commerce room's orders (commerce had not landed when these were
    written); records the order transitions fulfillment asks for."""

    snapshots: dict[str, OrderSnapshot] = field(default_factory=dict)
    marks: list[tuple[str, str]] = field(default_factory=list)

    async def snapshot(self, session: AsyncSession, order_id: str) -> OrderSnapshot | None:
        return self.snapshots.get(order_id)

    async def mark(self, session: AsyncSession, order_id: str, to: str, *, now: datetime) -> None:
        if (order_id, to) not in self.marks:
            self.marks.append((order_id, to))

    def paid(self, method: str = "courier", language: str = "zh") -> OrderSnapshot:
        order_id = uuid.uuid4().hex
        snap = OrderSnapshot(
            order_id=order_id,
            order_number=f"HL-{order_id[:6].upper()}",
            delivery_method=method,
            recipient_name="王小明",
            recipient_phone=f"+86138{random.randint(10_000_000, 99_999_999)}",
            address="北京市朝阳区建国路 1 号",
            language=language,
            items=(OrderItem("周杰伦 演唱会 A 区", 2, ("C-1", "C-2")),),
        )
        self.snapshots[order_id] = snap
        return snap


@dataclass
class RecordingSms:
    sent: list[tuple[str, str, str]] = field(default_factory=list)
    fail: bool = False

    async def send(
        self, session: AsyncSession, to: str, body: str, *, purpose: str, **links: Any
    ) -> Any:
        if self.fail:
            raise ConnectionError("sms gateway down")
        self.sent.append((to, body, purpose))


@pytest.fixture
def partner_server() -> Iterator[PartnerServer]:
    server = PartnerServer(secret=uuid.uuid4().hex).start()
    yield server
    server.stop()


@pytest.fixture
def orders() -> StubOrders:
    return StubOrders()


@pytest.fixture
def sms() -> RecordingSms:
    return RecordingSms()


@pytest.fixture(scope="package")
async def client(
    settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """Overrides the shared `client` for this folder with an app of this room's own. The
    shared app serves on another event loop than the tests; sharing its database pool with
    tests that use `runtime` directly on the test loop breaks whichever runs second."""
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        c.app_runtime = app.state.runtime  # type: ignore[attr-defined]
        yield c


@pytest.fixture(scope="package")
async def jobs_runtime(settings: Settings, clock: TravelClock) -> AsyncIterator[Runtime]:
    """A runtime of its own for the jobs: the app under AsyncTestClient serves requests on
    another event loop, and database connections belong to the loop that opened them."""
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture
async def ctx(
    jobs_runtime: Runtime, orders: StubOrders, sms: RecordingSms
) -> AsyncIterator[FulfillmentContext]:
    runtime = jobs_runtime
    policy = RetryPolicy(
        max_attempts=4,
        base_seconds=0.01,
        cap_seconds=0.05,
        timeout_seconds=0.5,
        lease_seconds=5,
        watchdog_seconds=30,
    )
    client = HttpPartnerClient(timeout_seconds=policy.timeout_seconds)
    yield FulfillmentContext(
        sessions=runtime.sessions,
        clock=runtime.clock,
        orders=orders,
        client=client,
        sms=sms,
        policy=policy,
        rng=random.Random(1),
    )
    await client.aclose()  # its pooled connections, on this test's loop


async def only_partner(
    runtime: Runtime, *, kind: str = "http", url: str = "", secret: str = "", cost: int = 1500
) -> Partner:
    """Register a partner and make it the only active one for its delivery method."""
    async with runtime.sessions() as session, session.begin():
        method = "eticket" if kind == "eticket" else "courier"
        await session.execute(
            update(Partner).where(Partner.delivery_method == method).values(active=False)
        )
        return await register_partner(
            session,
            PartnerIn(
                code=f"p{uuid.uuid4().hex[:10]}",
                name="邮政速递",
                kind=kind,
                endpoint_url=url,
                secret=secret or uuid.uuid4().hex,
                cost_minor=cost,
            ),
            currency="CNY",
            now=runtime.clock.now(),
        )


@pytest.fixture
async def courier(jobs_runtime: Runtime, partner_server: PartnerServer) -> AsyncIterator[Partner]:
    yield await only_partner(jobs_runtime, url=partner_server.url, secret=partner_server.secret)


async def drain(ctx: FulfillmentContext, *, rounds: int = 40, pause: float = 0.03) -> None:
    """Run the in-process relay until nothing due is left (retries come due quickly here)."""
    sender = InProcessSender(fulfillment_actors.handlers(ctx))
    idle = 0
    for _ in range(rounds):
        sent = await relay_once(ctx.sessions, sender, now=ctx.clock.now())
        idle = idle + 1 if sent == 0 else 0
        if idle >= 3:
            return
        await asyncio.sleep(pause)
