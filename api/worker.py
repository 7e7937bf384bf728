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
from datetime import timedelta
from typing import Any

import dramatiq
import structlog

from api import outbox_routes
from core.broker import DramatiqSender, InProcessSender, make_broker
from core.outbox import Sender, purge_sent, relay_once
from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings
from fulfillment import (
    CommerceOrders,
    FulfillmentContext,
    HttpPartnerClient,
    RetryPolicy,
    redeliver_lost_order_paid,
    sweep_due,
)

log = structlog.get_logger("hotline.worker")
QUEUES = outbox_routes.queues()


def policy_from_env(env: Mapping[str, str] | None = None) -> RetryPolicy:
    """HOTLINE_DISPATCH_* knobs (tests shorten leases and backoff). A malformed or non-positive
    value raises SettingsError naming the variable; the API and the worker check at start."""
    env = os.environ if env is None else env
    base = RetryPolicy()
    values: dict[str, Any] = {}
    for name, kind in (
        ("max_attempts", int),
        ("max_redeliveries", int),
        ("base_seconds", float),
        ("cap_seconds", float),
        ("timeout_seconds", float),
        ("lease_seconds", float),
        ("watchdog_seconds", float),
        ("redeliver_seconds", float),
    ):
        var = f"HOTLINE_DISPATCH_{name.upper()}"
        if var not in env:
            continue
        try:
            value = kind(env[var].strip())
        except ValueError:
            raise SettingsError(f"{var} must be a number, got {env[var]!r}") from None
        if not value > 0 or value == float("inf"):
            raise SettingsError(f"{var} must be positive")
        values[name] = value
    policy = RetryPolicy(**{**base.__dict__, **values})
    if policy.lease_seconds <= policy.timeout_seconds:
        # The watchdog presumes a dispatch dead once its lease lapses: a partner call still
        # waiting for its answer then would be sent a second time while the first runs.
        raise SettingsError(
            f"HOTLINE_DISPATCH_LEASE_SECONDS ({policy.lease_seconds:g}) must be longer than "
            f"HOTLINE_DISPATCH_TIMEOUT_SECONDS ({policy.timeout_seconds:g}), or a partner call "
            "still running when its lease lapses is sent again"
        )
    return policy


class _RuntimeSms:
    """The SMS port looked up when a message is queued, so it does not matter whether the auth
    room attaches it to the runtime before or after this context is built. Queueing writes in
    the job's transaction; the `sms.send` job (api.sms_events) texts it after the commit."""

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
    return InProcessSender(outbox_routes.handlers(runtime))


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


async def purge_outbox_job(runtime: Runtime) -> int:
    """Periodic: delete sent messages after HOTLINE_OUTBOX_RETENTION_HOURS (pending ones stay)."""
    retention = timedelta(hours=runtime.settings.outbox_retention_hours)
    async with runtime.sessions() as session, session.begin():
        return await purge_sent(session, runtime.clock.now(), retention)


_last_redelivery_scan: dict[int, float] = {}


def redelivery_scan_seconds(policy: RetryPolicy) -> float:
    """How often to look for lost `order.paid` jobs: a quarter of redeliver_seconds, so a lost
    job is sent again at most ~1.25 x redeliver_seconds after it was first sent, but at most
    once a minute (the scan reads two days of `order.paid`) and at least every half second."""
    return max(0.5, min(60.0, policy.redeliver_seconds / 4))


async def sweep_job(runtime: Runtime) -> int:
    """Periodic: re-enqueue pending shipments that a dead worker left behind, and paid orders
    whose `order.paid` job the broker lost (Dramatiq gave up, or Redis restarted empty)."""
    ctx = fulfillment_context(runtime)
    count = await sweep_due(ctx)
    last = _last_redelivery_scan.get(id(runtime))
    if last is None or time.monotonic() - last >= redelivery_scan_seconds(ctx.policy):
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
    outbox_routes.declare(broker)
    return broker


async def serve(settings: Settings, *, threads: int = 4, periodic: bool = True) -> None:
    """Run worker threads and the periodic jobs until SIGTERM/SIGINT."""
    from api.logging import configure_logging
    from api.periodic import PeriodicRunner
    from api.wiring import register_periodic_jobs

    configure_logging(settings)  # in production Dramatiq's own log lines become JSON too
    outbox_routes.check_routes()  # an unrouted topic would wait forever: refuse to start
    policy = policy_from_env()
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    outbox_routes.configure(settings, policy)
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
    runtime.ports["outbox_sender"] = DramatiqSender(broker, outbox_routes.routes())
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
