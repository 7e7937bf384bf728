"""Two API processes and two worker processes on one PostgreSQL database and one Redis prefix
(tests/stack.py), as behind a load balancer: the same correctness as one process.

Requests are split across both APIs (the load balancer's job), so every guarantee that holds
here rests on PostgreSQL and Redis, not on one process's memory: no oversell, one order and
one charge per Idempotency-Key, a partner callback applied once, every paid order dispatched
once even when a worker is killed mid-burst, and a live event reaching a page held open by
the other API. Every wait polls with a deadline; nothing sleeps for synchronisation.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from api.migrate import upgrade
from commerce import Order
from core.runtime import Runtime
from core.settings import load_settings
from fulfillment import Partner, PartnerIn, Shipment, register_partner
from fulfillment.domain import sign
from fulfillment.models import PartnerCallback
from payments import carrier
from payments.models import Payment, PhoneAccount
from tests.auth_fixtures import TestCustomer, make_agent, make_customer
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.commerce.helpers import available, make_offer, seats_sold, small_runtime
from tests.partner_server import PartnerServer
from tests.stack import Stack, running_stack, stack_env, stop

pytestmark = pytest.mark.slow
ADDRESS = "上海市徐汇区漕溪北路1111号"
BALANCE = 10**8


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerServer]:
    server = PartnerServer(secret=uuid.uuid4().hex).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deployment(partner: PartnerServer) -> Iterator[Stack]:
    name, url = create_database("hotline_multi")
    upgrade(url)
    prefix = f"m{uuid.uuid4().hex[:8]}"
    env = {
        "HOTLINE_WORKER_THREADS": "4",
        # A killed worker's unacknowledged Dramatiq messages go back to the queue within
        # seconds (heartbeat + maintenance on most fetches) instead of Dramatiq's minute.
        "HOTLINE_DRAMATIQ_HEARTBEAT_MS": "1500",
        "HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE": "1000000",  # of 1,000,000: every fetch
        "HOTLINE_DISPATCH_LEASE_SECONDS": "1.5",
        "HOTLINE_DISPATCH_WATCHDOG_SECONDS": "1",
        "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "1",
        "HOTLINE_DISPATCH_BASE_SECONDS": "0.1",
        "HOTLINE_DISPATCH_CAP_SECONDS": "0.5",
        "HOTLINE_DISPATCH_REDELIVER_SECONDS": "10",
    }

    try:
        with running_stack(stack_env(url, REDIS_URL, prefix, **env)) as stack:
            yield stack
    finally:
        drop_database(name)
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


@pytest.fixture(scope="module")
async def runtime(deployment: Stack, partner: PartnerServer) -> AsyncIterator[Runtime]:
    """The test's own view of the same database and secret (tokens it mints are valid on
    both APIs), with a courier partner that answers on loopback."""
    rt = small_runtime(load_settings(environ=deployment.env), pool=4)
    async with rt.sessions() as session, session.begin():
        await session.execute(update(Partner).values(active=False))
        await register_partner(
            session,
            PartnerIn("multi", "courier", "http", partner.url, partner.secret),
            currency="CNY",
            now=rt.clock.now(),
        )
    yield rt
    await rt.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def buyer(runtime: Runtime) -> TestCustomer:
    customer = await make_customer(runtime)
    async with runtime.sessions() as session, session.begin():
        await carrier.open_account(
            session, customer.id, currency="CNY", now=runtime.clock.now(), balance=BALANCE
        )
    return customer


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def post_settled(
    http: httpx.AsyncClient, url: str, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    """POST, retrying the answers that mean "another request holds it, ask again": a busy
    hot row, or the same Idempotency-Key still running on the other API."""
    for _ in range(100):
        r = await http.post(url, json=body, headers=headers)
        slug = r.json().get("type", "") if r.status_code == 409 else ""
        if not slug.endswith(("/busy", "/idempotency-in-progress")):
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} stayed busy")


def order_body(offer_id: str) -> dict[str, Any]:
    return {
        "items": [{"offer_id": offer_id, "quantity": 1}],
        "delivery": {"method": "courier", "address": ADDRESS},
    }


async def place_and_pay(
    http: httpx.AsyncClient, urls: list[str], who: TestCustomer, offer: str
) -> str:
    """Placed on one API and paid on the other, as a load balancer may split a session."""
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r = await post_settled(http, f"{urls[0]}/v1/orders", {**who.headers, **key}, order_body(offer))
    assert r.status_code == 201, r.text
    order_id = str(r.json()["id"])
    pay = f"{urls[1]}/v1/orders/{order_id}/payments"
    r = await post_settled(http, pay, {**who.headers, **key}, {"method": "carrier_billing"})
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    return order_id


async def test_a_scarce_offer_split_across_both_apis_never_oversells(
    deployment: Stack, runtime: Runtime, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(runtime, capacity=10)
    buyers = [await make_customer(runtime) for _ in range(8)]

    async def one(i: int) -> int:
        url = deployment.urls[i % 2]
        body = {"items": [{"offer_id": offer.id, "quantity": 1}]}
        r = await post_settled(http, f"{url}/v1/orders", buyers[i % 8].headers, body)
        assert r.status_code in (201, 409), r.text
        if r.status_code == 409:
            assert r.json()["type"].endswith("/sold-out"), r.text
        return r.status_code

    codes = await asyncio.gather(*(one(i) for i in range(40)))
    assert codes.count(201) == 10
    assert await seats_sold(runtime, offer.id) == 10
    assert await available(runtime, offer.id) == 0


async def test_one_idempotency_key_sent_to_both_apis_makes_one_order_and_one_charge(
    deployment: Stack, runtime: Runtime, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(runtime, capacity=50)
    who = await buyer(runtime)
    headers = {**who.headers, "Idempotency-Key": uuid.uuid4().hex}
    orders = await asyncio.gather(
        *(
            post_settled(http, f"{u}/v1/orders", headers, order_body(offer.id))
            for u in deployment.urls
        )
    )
    assert [r.status_code for r in orders] == [201, 201], [r.text for r in orders]
    assert orders[0].json()["id"] == orders[1].json()["id"]
    order_id = orders[0].json()["id"]
    pay_headers = {**who.headers, "Idempotency-Key": uuid.uuid4().hex}
    paid = await asyncio.gather(
        *(
            post_settled(http, f"{u}/v1/orders/{order_id}/payments", pay_headers,
                         {"method": "carrier_billing"})
            for u in deployment.urls
        )
    )  # fmt: skip
    assert [r.status_code for r in paid] == [201, 201], [r.text for r in paid]
    assert paid[0].json()["id"] == paid[1].json()["id"]
    async with runtime.sessions() as session:
        placed = await session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == who.id)
        )
        charges = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.order_id == order_id)
        )
        account = await session.scalar(
            select(PhoneAccount).where(PhoneAccount.customer_id == who.id)
        )
        total = (await session.get_one(Order, order_id)).total
    assert placed == 1 and charges == 1
    assert account is not None and account.balance == BALANCE - total


async def test_paid_orders_are_dispatched_once_when_a_worker_is_killed_mid_burst(
    deployment: Stack, runtime: Runtime, partner: PartnerServer, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(runtime, capacity=100)
    who = await buyer(runtime)
    partner.behaviour.delay_seconds = 0.2  # a partner call in flight when the worker dies
    seen = len(partner.received)
    urls = deployment.urls
    first = [
        await place_and_pay(http, [urls[i % 2], urls[(i + 1) % 2]], who, offer.id)
        for i in range(12)
    ]

    async def partner_busy() -> bool:
        return len(partner.received) > seen

    await until(partner_busy, 60, "the first dispatch")
    stop(deployment.workers[0], signal.SIGKILL)  # no goodbye: its messages are unacknowledged
    rest = [
        await place_and_pay(http, [urls[i % 2], urls[(i + 1) % 2]], who, offer.id)
        for i in range(12)
    ]
    ids = first + rest

    async def all_dispatched() -> bool:
        async with runtime.sessions() as session:
            done = await session.scalar(
                select(func.count())
                .select_from(Shipment)
                .where(Shipment.order_id.in_(ids), Shipment.status == "dispatched")
            )
        return done == len(ids)

    try:
        await until(all_dispatched, 60, "every paid order dispatched by the surviving worker")
    finally:
        partner.behaviour.delay_seconds = 0.0
    async with runtime.sessions() as session:
        shipments = list(await session.scalars(select(Shipment).where(Shipment.order_id.in_(ids))))
    assert sorted(s.order_id for s in shipments) == sorted(ids)  # one shipment per order
    bodies = partner.bodies_by_key()
    assert all(len(bodies[s.id]) == 1 for s in shipments), "a shipment sent with two bodies"
    assert all(r.signature_ok for r in partner.received)


async def test_a_partner_callback_delivered_to_both_apis_is_applied_once(
    deployment: Stack, runtime: Runtime, partner: PartnerServer, http: httpx.AsyncClient
) -> None:
    offer = await make_offer(runtime, capacity=5)
    order_id = await place_and_pay(http, deployment.urls, await buyer(runtime), offer.id)

    async def dispatched() -> Shipment | None:
        async with runtime.sessions() as session:
            return await session.scalar(
                select(Shipment).where(
                    Shipment.order_id == order_id, Shipment.status == "dispatched"
                )
            )

    async def is_dispatched() -> bool:
        return await dispatched() is not None

    await until(is_dispatched, 30, "the dispatch")
    shipment = await dispatched()
    assert shipment is not None
    event_id = uuid.uuid4().hex
    raw = json.dumps(
        {
            "event_id": event_id,
            "shipment_id": shipment.id,
            "status": "in_transit",
            "occurred_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    headers = {
        "Hotline-Signature": sign(partner.secret, raw, int(time.time())),
        "Content-Type": "application/json",
    }
    answers = await asyncio.gather(
        *(
            http.post(f"{u}/v1/webhooks/partners/multi", content=raw, headers=headers)
            for u in deployment.urls
        )
    )
    assert [r.status_code for r in answers] == [200, 200], [r.text for r in answers]
    assert sorted(r.json()["outcome"] for r in answers) == ["applied", "duplicate"]
    async with runtime.sessions() as session:
        recorded = await session.scalar(
            select(func.count())
            .select_from(PartnerCallback)
            .where(PartnerCallback.event_id == event_id)
        )
        now = await session.get_one(Shipment, shipment.id, populate_existing=True)
    assert recorded == 1 and now.status == "in_transit"


async def test_a_payment_on_one_api_reaches_a_page_held_open_on_the_other(
    deployment: Stack, runtime: Runtime, http: httpx.AsyncClient
) -> None:
    api_a, api_b = deployment.urls
    offer = await make_offer(runtime, capacity=5)
    who = await buyer(runtime)
    r = await http.post(f"{api_a}/v1/orders", json=order_body(offer.id), headers=who.headers)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]
    agent = await make_agent(runtime, "agent")
    async with httpx.AsyncClient(base_url=api_b, timeout=30) as console:
        form = await console.get("/console/sign-in")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed_in = await console.post(
            "/console/sign-in",
            data={"_csrf": csrf.group(1), "username": agent.username, "password": agent.password},
        )
        assert signed_in.status_code == 303, signed_in.text[:300]
        async with console.stream("GET", f"/console/live?order={order_id}") as stream:
            assert stream.status_code == 200
            lines = stream.aiter_lines()

            async def next_status() -> str:
                async for line in lines:
                    found = re.search(r'id="order-state" data-status="([a-z_]+)"', line)
                    if found:
                        return found.group(1)
                raise AssertionError("the stream ended")

            # The stream's first event is the state on connect: it is subscribed from here.
            assert await asyncio.wait_for(next_status(), 30) == "awaiting_payment"
            pay = await http.post(
                f"{api_a}/v1/orders/{order_id}/payments",
                json={"method": "carrier_billing"},
                headers={**who.headers, "Idempotency-Key": uuid.uuid4().hex},
            )
            assert pay.status_code == 201, pay.text

            async def paid_shown() -> None:
                while await next_status() == "awaiting_payment":
                    pass

            await asyncio.wait_for(paid_shown(), 30)
