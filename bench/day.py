"""A whole call-center day under load: 2 API processes (uvicorn, behind a round-robin "load
balancer" in the client) and 2 Dramatiq worker processes on one PostgreSQL database and one
Redis prefix (tests/stack.py), driven by the mix of bench/day_flows.py:

  agents verifying callers and booking with carrier billing or a pay link (the customer then
  pays on the pay page against localstripe, and Stripe's webhook follows), customers ordering
  on the web shop (session, CSRF, pay from the phone account) and by SMS (BOOK, then PAY),
  customers reading their orders, the courier's callbacks for shipments it was sent, urgent
  tickets opened (half answered by an agent, the rest escalating in the workers' job), IVR
  calls, and finance's daily report and ledger CSV. Paid courier orders go through the outbox
  and the workers to a local signed partner (tests/partner_server.py).

Arrivals are open-loop: each step starts flows at a target rate (Poisson arrivals) whether
or not earlier ones have finished, so a deployment that falls behind shows it as latency and
errors, not as a politely slower client. The rate rises step by step; each step reports per
route the rate achieved, p50/p99 and errors, the escalations fired, the paid-to-partner delay
(payment request sent -> the partner's first receipt of the shipment), and the CPU of each
part (bench/day_watch.py). At the end: the highest rate held (p99 under 500 ms and no error)
and, at the first step that failed, the part closest to saturation.

    uv run python bench/day.py                       # steps 2,4,8,16,32,64 flows/s, 20 s each
    uv run python bench/day.py --steps 5,10,20 --seconds 30 --keep-going

Prints figures, asserts nothing about time. Needs PostgreSQL and Redis as for the tests; uses
a scratch database and a unique Redis key prefix and removes both afterwards. On this shared
2-core machine the client, localstripe and the partner run in this process and share the
cores with the deployment: read the "machine" line beside each step.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sys
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import commerce  # noqa: E402
import ticketing  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from bench.day_flows import MIX, Day  # noqa: E402
from bench.day_report import cost_per_flow, report_step, step_held, summary  # noqa: E402
from bench.day_watch import BENCH_APP, Watch, usage  # noqa: E402
from core.db import make_engine, make_sessionmaker  # noqa: E402
from core.money import Money  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from fulfillment import Partner, PartnerIn, Shipment, register_partner  # noqa: E402
from payments import carrier  # noqa: E402
from payments.models import Payment  # noqa: E402
from tests.auth_fixtures import make_agent, make_customer  # noqa: E402
from tests.conftest import PG_ADMIN, create_database, drop_database  # noqa: E402
from tests.partner_server import PartnerServer  # noqa: E402
from tests.stack import Stack, running_stack, stack_env  # noqa: E402
from tests.stripe_fixtures import run_localstripe  # noqa: E402
from ticketing.models import Escalation  # noqa: E402

REDIS = "redis://127.0.0.1:6379/5"
PUBLIC = "http://hotline.bench"
SMS_CODE = "DAYSMS"


async def seed(
    runtime: Runtime, partner: PartnerServer, args: argparse.Namespace
) -> dict[str, Any]:
    """People, offers, a courier, a ticket queue with a one-minute first response."""
    now = runtime.clock.now()
    customers = [await make_customer(runtime) for _ in range(args.customers)]
    agent = await make_agent(runtime, "agent")
    supervisor = await make_agent(runtime, "supervisor")
    finance = await make_agent(runtime, "finance")
    async with runtime.sessions() as s, s.begin():
        for c in customers:
            await carrier.open_account(s, c.id, currency="CNY", now=now, balance=10**12)
        offers = [
            await commerce.create_offer(
                s, kind="event", title=f"演唱会 {i}", venue="上海体育场",
                starts_at=now + timedelta(days=30), price=Money(38000, "CNY"),
                capacity=10**6, now=now, code=SMS_CODE if i == 0 else None,
            )
            for i in range(5)
        ]  # fmt: skip
        await s.execute(
            update(Partner).where(Partner.delivery_method == "courier").values(active=False)
        )
        await register_partner(
            s,
            PartnerIn("day", "courier", "http", partner.url, partner.secret, "courier", 1500),
            currency="CNY",
            now=now,
        )
        await ticketing.upsert_calendar(
            s,
            name="always",
            zone="UTC",
            hours={d: [(0, 1440)] for d in range(7)},
            holidays=[],
            now=now,
        )
        await ticketing.upsert_queue(
            s,
            code="day",
            name="day",
            calendar_name="always",
            categories=list(ticketing.CATEGORIES),
            supervisor_id=supervisor.id,
            now=now,
        )
        await ticketing.set_policy(
            s, category="service", priority="urgent", first_response_s=60, next_response_s=600,
            resolution_s=86400, now=now,
        )  # fmt: skip
        for a in (agent, supervisor):
            await ticketing.set_agent(s, a.id, available=True, cap=500, queues=["day"])
    return {
        "customers": customers,
        "agent": agent,
        "finance": finance,
        "offers": [o.id for o in offers],
        "today": now.astimezone(runtime.settings.zone).date().isoformat(),
    }


def shop_sign_in(url: str, customer: Any, offer: str) -> tuple[Any, str, str]:
    """A customer signed in on the shop: (customer, session cookie, the session's CSRF)."""
    with httpx.Client(base_url=url, timeout=30) as web:
        form = web.get("/shop/sign-in")
        csrf = re.search(r'name="_csrf" value="([^"]+)"', form.text)
        assert csrf, form.text[:300]
        r = web.post(
            "/shop/sign-in",
            data={"_csrf": csrf.group(1), "phone": customer.phone, "pin": customer.pin},
        )
        assert r.status_code == 303, r.text[:300]
        page = web.get(f"/shop/offers/{offer}/confirm", params={"qty": 1, "method": "e_ticket"})
        csrf = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        assert csrf, page.text[:300]
        return customer, str(web.cookies["hotline_session"]), csrf.group(1)


async def run_step(day: Day, rate: float, seconds: float, tasks: set[asyncio.Task[None]]) -> int:
    """Start flows at `rate` a second (Poisson arrivals) for `seconds`; returns how many."""
    flows, weights = zip(*MIX, strict=True)
    end = time.perf_counter() + seconds
    at, started = time.perf_counter(), 0
    while True:
        at += random.expovariate(rate)
        if at >= end:
            break
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        flow = random.choices(flows, weights)[0]
        task = asyncio.create_task(flow(day))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        started += 1
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    return started


async def collect_dispatched(day: Day, partner: PartnerServer, stop: asyncio.Event) -> None:
    """Shipments the partner accepted, for its callbacks (each reported once)."""
    seen, seen_keys = 0, set()
    while not stop.is_set():
        for r in partner.received[seen:]:
            if r.signature_ok and r.key not in seen_keys:
                seen_keys.add(r.key)
                day.dispatched.append(r.key)
        seen = len(partner.received)
        await asyncio.sleep(0.25)


async def intent_of(runtime: Runtime, payment_id: str) -> str:
    async with runtime.sessions() as s:
        return str((await s.get_one(Payment, payment_id)).intent_id)


async def escalations(runtime: Runtime, since: Any, until: Any) -> int:
    async with runtime.sessions() as s:
        return int(
            await s.scalar(
                select(func.count())
                .select_from(Escalation)
                .where(Escalation.fired_at >= since, Escalation.fired_at < until)
            )
            or 0
        )


async def partner_delays(
    runtime: Runtime, day: Day, partner: PartnerServer
) -> dict[int, list[float]]:
    """Per step: seconds from a courier order's payment request to the partner's receipt
    (orders the partner never received are counted apart, as inf)."""
    first: dict[str, float] = {}
    for r in partner.received:
        first.setdefault(r.key, r.wall)
    async with runtime.sessions() as s:
        rows = (
            await s.execute(
                select(Shipment.order_id, Shipment.id).where(Shipment.order_id.in_(list(day.paid)))
            )
        ).all()
    shipment = dict(rows)
    out: dict[int, list[float]] = defaultdict(list)
    for order_id, (step, sent) in day.paid.items():
        got = first.get(shipment.get(order_id, ""))
        out[step].append(got - sent if got is not None else float("inf"))
    return out


async def drive(args: argparse.Namespace, stack: Stack, ctx: dict[str, Any]) -> None:
    runtime = Runtime.build(load_settings(environ=stack.env))
    # The bench's own reads (intent ids, shipments) are named, so the CPU watch leaves them out.
    runtime.engine = make_engine(
        runtime.settings.database_url,
        pool_size=4,
        connect_args={"server_settings": {"application_name": BENCH_APP}},
    )
    runtime.sessions = make_sessionmaker(runtime.engine)
    try:
        await measure(args, stack, runtime, ctx)
    finally:
        await runtime.close()


async def measure(
    args: argparse.Namespace, stack: Stack, runtime: Runtime, ctx: dict[str, Any]
) -> None:
    partner, ls, db_name = ctx["partner"], ctx["ls"], ctx["db_name"]
    note("seeding customers, agents, offers, the courier and the ticket queue")
    seeded = await seed(runtime, partner, args)
    shoppers = [
        shop_sign_in(stack.urls[i % 2], c, seeded["offers"][0])
        for i, c in enumerate(seeded["customers"][: args.shoppers])
    ]
    day = Day(
        urls=stack.urls, customers=seeded["customers"], agent=seeded["agent"],
        finance=seeded["finance"], shoppers=shoppers, offers=seeded["offers"], sms_code=SMS_CODE,
        public=PUBLIC, twilio_token=ctx["twilio"], stripe_url=ls.url,
        stripe_secret=ls.webhook_secret, partner_code="day", partner_secret=partner.secret,
        today=seeded["today"], intent_of=lambda pid: intent_of(runtime, pid),
    )  # fmt: skip
    r = redis.Redis.from_url(REDIS)
    redis_pid = int(r.info("server")["process_id"])
    r.close()
    watch = Watch(
        {
            "API": lambda: [p.pid for p in stack.apis],
            "worker": lambda: [p.pid for p in stack.workers],
            "redis-server": lambda: [redis_pid],
            "bench client": lambda: [os.getpid()],
        },
        PG_ADMIN,
        db_name,
    )
    watch.start()
    stop = asyncio.Event()
    collector = asyncio.create_task(collect_dispatched(day, partner, stop))
    tasks: set[asyncio.Task[None]] = set()
    note(f"warm-up {args.warmup:g} s at {args.warmup_rate:g} flows/s")
    day.step = -1  # warm-up: every flow once, connections opened, not reported
    await run_step(day, args.warmup_rate, args.warmup, tasks)
    steps: list[dict[str, Any]] = []
    failed = 0
    for i, rate in enumerate(args.steps):
        day.step = i
        note(f"step {i + 1}: {rate:g} flows/s for {args.seconds:g} s")
        since, before = runtime.clock.now(), watch.snapshot()
        started = await run_step(day, rate, args.seconds, tasks)
        until, cpu = runtime.clock.now(), usage(before, watch.snapshot())
        steps.append({"rate": rate, "started": started, "since": since, "until": until, "cpu": cpu})
        failed += not step_held(day, i)
        if failed >= 2 and not args.keep_going:
            break
    if tasks:  # what is still in flight belongs to its step; wait for it, then report
        await asyncio.wait(tasks, timeout=60)
    await wait_for_partner(runtime, day, partner, timeout=30)
    stop.set()
    await collector
    watch.stopped.set()
    delays = await partner_delays(runtime, day, partner)
    print(
        f"bench/day.py: {len(stack.apis)} API processes + {len(stack.workers)} worker processes, "
        f"PostgreSQL + Redis, {args.customers} customers ({args.shoppers} on the shop), "
        f"{args.seconds:g} s per step; shared {os.cpu_count()}-CPU machine"
    )
    highest: dict[str, Any] | None = None
    first_fail: tuple[int, str, list[Any]] | None = None
    for i, st in enumerate(steps):
        samples = [s for s in day.samples if s.step == i]
        fired = await escalations(runtime, st["since"], st["until"])
        held, why = report_step(
            i + 1,
            st["rate"],
            st["started"],
            args.seconds,
            samples,
            fired,
            delays.get(i, []),
            st["cpu"],
        )
        if held and first_fail is None:
            highest = {**st, "requests": len(samples) / args.seconds}
        elif not held and first_fail is None:
            first_fail = (i + 1, why, st["cpu"])
    summary(highest, first_fail, delays, args.seconds)
    cost_per_flow(steps, len(stack.apis), len(stack.workers))
    for t in list(tasks):
        t.cancel()


def note(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", file=sys.stderr, flush=True)


async def wait_for_partner(
    runtime: Runtime, day: Day, partner: PartnerServer, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delays = await partner_delays(runtime, day, partner)
        if all(d != float("inf") for per in delays.values() for d in per):
            return
        await asyncio.sleep(0.5)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=lambda s: [float(x) for x in s.split(",")],
                   default=[2, 4, 8, 16, 32, 64], help="target flows/s per step")  # fmt: skip
    p.add_argument("--seconds", type=float, default=20, help="length of each step")
    p.add_argument("--warmup", type=float, default=5, help="seconds of warm-up, not reported")
    p.add_argument("--warmup-rate", type=float, default=4)
    p.add_argument("--customers", type=int, default=200)
    p.add_argument("--shoppers", type=int, default=20, help="customers signed in on the shop")
    p.add_argument("--keep-going", action="store_true", help="run every step, even past failures")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    random.seed(args.seed)
    db_name, url = create_database("hotline_bench_day")
    prefix = f"day{uuid.uuid4().hex[:8]}"
    twilio = uuid.uuid4().hex
    partner = PartnerServer(secret=uuid.uuid4().hex).start()
    try:
        upgrade(url)
        with run_localstripe() as ls:
            env = stack_env(
                url, REDIS, prefix,
                HOTLINE_STRIPE_API_KEY="sk_test_hotline", HOTLINE_STRIPE_API_BASE=ls.url,
                HOTLINE_STRIPE_WEBHOOK_SECRET=ls.webhook_secret, HOTLINE_TWILIO_AUTH_TOKEN=twilio,
                HOTLINE_PUBLIC_BASE_URL=PUBLIC, HOTLINE_SMS_REPLIES_PER_HOUR=str(10**9),
            )  # fmt: skip
            with running_stack(env, apis=2, workers=2) as stack:
                ctx = {"partner": partner, "ls": ls, "db_name": db_name, "twilio": twilio}
                asyncio.run(drive(args, stack, ctx))
    finally:
        partner.stop()
        drop_database(db_name)
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


if __name__ == "__main__":
    main()
