"""The background worker: Dramatiq worker threads against Redis plus the periodic jobs
(outbox relay, fulfillment watchdog and every room's jobs), one OS process each.

`hotline worker --processes N` starts N of these (`python -m api.worker`). On embedded
defaults the API runs the same relay in-process instead (api.wiring).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from typing import Any

import dramatiq
import structlog

from api import ticketing_events
from core.broker import DramatiqSender, InProcessSender, make_broker
from core.outbox import Sender, relay_once
from core.runtime import Runtime
from core.settings import Settings, load_settings
from fulfillment import (
    CommerceOrders,
    FulfillmentContext,
    HttpPartnerClient,
    RetryPolicy,
    redeliver_lost_order_paid,
    sweep_due,
)
from fulfillment import actors as fulfillment_actors

log = structlog.get_logger("hotline.worker")
QUEUES = {fulfillment_actors.QUEUE, ticketing_events.QUEUE}


def policy_from_env(env: Mapping[str, str] | None = None) -> RetryPolicy:
    """HOTLINE_DISPATCH_* knobs (tests shorten leases and backoff)."""
    env = os.environ if env is None else env
    base = RetryPolicy()
    values: dict[str, Any] = {}
    for name in ("max_attempts", "max_redeliveries"):
        if f"HOTLINE_DISPATCH_{name.upper()}" in env:
            values[name] = int(env[f"HOTLINE_DISPATCH_{name.upper()}"])
    for name in (
        "base_seconds",
        "cap_seconds",
        "timeout_seconds",
        "lease_seconds",
        "redeliver_seconds",
    ):
        if f"HOTLINE_DISPATCH_{name.upper()}" in env:
            values[name] = float(env[f"HOTLINE_DISPATCH_{name.upper()}"])
    if "HOTLINE_DISPATCH_WATCHDOG_SECONDS" in env:
        values["watchdog_seconds"] = float(env["HOTLINE_DISPATCH_WATCHDOG_SECONDS"])
    return RetryPolicy(**{**base.__dict__, **values})


class _RuntimeSms:
    """The SMS port looked up when a message is sent, so it does not matter whether the auth
    room attaches it to the runtime before or after this context is built."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def send(self, session: Any, to: str, body: str, *, purpose: str) -> Any:
        port = getattr(self.runtime, "sms", None) or self.runtime.ports.get("sms")
        if port is None:
            raise RuntimeError("no SMS port configured")
        return await port.send(session, to, body, purpose=purpose)


def fulfillment_context(runtime: Runtime, policy: RetryPolicy | None = None) -> FulfillmentContext:
    policy = policy or runtime.ports.get("dispatch_policy") or policy_from_env()
    return FulfillmentContext(
        sessions=runtime.sessions,
        clock=runtime.clock,
        orders=runtime.ports.get("orders") or CommerceOrders(),
        client=runtime.ports.get("partner_client")
        or HttpPartnerClient(timeout_seconds=policy.timeout_seconds),
        sms=_RuntimeSms(runtime),
        policy=policy,
    )


def in_process_sender(runtime: Runtime) -> InProcessSender:
    return InProcessSender(
        {
            **fulfillment_actors.handlers(fulfillment_context(runtime)),
            **ticketing_events.handlers(runtime),
        }
    )


async def relay_job(runtime: Runtime) -> int:
    """Periodic: move due outbox messages to the sender this process was given."""
    sender: Sender | None = runtime.ports.get("outbox_sender")
    if sender is None:
        return 0
    total = 0
    while True:  # keep going while batches come back full, so a burst is not paced by the tick
        sent = await relay_once(runtime.sessions, sender, now=runtime.clock.now(), batch=100)
        total += sent
        if sent < 100:
            return total


_last_redelivery_scan: dict[int, float] = {}
REDELIVERY_SCAN_SECONDS = 60.0


async def sweep_job(runtime: Runtime) -> int:
    """Periodic: re-enqueue pending shipments that a dead worker left behind, and (at most once
    a minute, it scans two days of `order.paid`) paid orders whose job the broker lost."""
    ctx = fulfillment_context(runtime)
    count = await sweep_due(ctx)
    last = _last_redelivery_scan.get(id(runtime))
    if last is None or time.monotonic() - last >= REDELIVERY_SCAN_SECONDS:
        _last_redelivery_scan[id(runtime)] = time.monotonic()
        count += await redeliver_lost_order_paid(ctx)
    return count


def build_broker(settings: Settings) -> dramatiq.Broker:
    env = os.environ
    broker = make_broker(
        settings,
        heartbeat_timeout_ms=int(env["HOTLINE_DRAMATIQ_HEARTBEAT_MS"])
        if "HOTLINE_DRAMATIQ_HEARTBEAT_MS" in env
        else None,
        maintenance_chance=int(env["HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE"])
        if "HOTLINE_DRAMATIQ_MAINTENANCE_CHANCE" in env
        else None,
    )
    fulfillment_actors.declare(broker)
    ticketing_events.declare(broker)
    return broker


async def serve(settings: Settings, *, threads: int = 4, periodic: bool = True) -> None:
    """Run worker threads and the periodic jobs until SIGTERM/SIGINT."""
    from api.logging import configure_logging
    from api.periodic import PeriodicRunner
    from api.wiring import register_periodic_jobs

    configure_logging(settings)  # in production Dramatiq's own log lines become JSON too
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    policy = policy_from_env()
    fulfillment_actors.configure(lambda: fulfillment_context(Runtime.build(settings), policy))
    ticketing_events.configure(lambda: Runtime.build(settings))
    port = os.environ.get("HOTLINE_WORKER_METRICS_PORT")
    if port:
        from prometheus_client import start_http_server

        start_http_server(int(port), addr=settings.host)
    # An idle Dramatiq consumer backs off up to worker_timeout before it polls Redis again;
    # the default 1 s added up to a second per hop (order.paid, then dispatch) to every
    # paid-to-partner latency. 100 ms costs one cheap Redis fetch a tick per queue.
    worker = dramatiq.Worker(broker, queues=QUEUES, worker_threads=threads, worker_timeout=100)
    worker.start()
    runtime = Runtime.build(settings)
    runtime.ports["dispatch_policy"] = policy
    runtime.ports["outbox_sender"] = DramatiqSender(
        broker, {**fulfillment_actors.ROUTES, **ticketing_events.ROUTES}
    )
    register_periodic_jobs()
    runner = PeriodicRunner(runtime)
    if periodic:
        runner.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", queues=sorted(QUEUES), threads=threads, pid=os.getpid())
    await stop.wait()
    await runner.stop()
    with contextlib.suppress(Exception):
        await asyncio.to_thread(worker.stop)
    await runtime.close()


def main() -> None:
    threads = int(os.environ.get("HOTLINE_WORKER_THREADS", "4"))
    periodic = os.environ.get("HOTLINE_WORKER_PERIODIC", "1") != "0"
    asyncio.run(serve(load_settings(), threads=threads, periodic=periodic))


if __name__ == "__main__":
    main()
