"""The background worker: Dramatiq worker threads against Redis plus the periodic jobs
(outbox relay, fulfillment watchdog and every room's jobs), one OS process each.

`hotline worker --processes N` starts N of these (`python -m api.worker`). On embedded
defaults the API runs the same relay in-process instead (api.wiring).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Callable

import dramatiq
import structlog

from api import outbox_routes
from api.composition import Services, build_services
from core import doorbell
from core.broker import DramatiqSender, make_broker
from core.outbox import wake_local_relays
from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings

log = structlog.get_logger("hotline.worker")
QUEUES = outbox_routes.queues()


def build_broker(settings: Settings) -> dramatiq.Broker:
    broker = make_broker(
        settings,
        heartbeat_timeout_ms=settings.dramatiq_heartbeat_ms,
        maintenance_chance=settings.dramatiq_maintenance_chance,
    )
    broker.add_middleware(CloseActorClients())  # after AsyncIO: its shutdown hook runs first
    outbox_routes.declare(broker)
    return broker


class CloseActorClients(dramatiq.Middleware):
    """Closes the actors' HTTP sessions (api.wiring.close_clients) once the worker threads
    have stopped and before Dramatiq stops the actors' event loop: the sessions belong to that
    loop, and after it is gone they could only be dropped, each logging an error at exit.
    Dramatiq calls `after_*` hooks in reverse order, so this one, added after AsyncIO, runs
    before AsyncIO's own."""

    def __init__(self, built: Callable[[], Services | None] = outbox_routes.built_services):
        self.built = built

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        from dramatiq.asyncio import get_event_loop_thread

        from api.wiring import close_clients

        services, loop_thread = self.built(), get_event_loop_thread()
        if services is None or loop_thread is None:
            return  # no job built them, or no event loop: nothing was opened
        try:
            loop_thread.run_coroutine(close_clients(services))
        except Exception:  # shutting down: a close that fails must not stop the rest
            log.warning("closing the actors' HTTP sessions failed", exc_info=True)


async def serve(settings: Settings) -> None:
    """Run HOTLINE_WORKER_THREADS worker threads and (unless HOTLINE_WORKER_PERIODIC=0) the
    periodic jobs until SIGTERM/SIGINT."""
    from api.logging import configure_logging
    from api.periodic import PeriodicRunner
    from api.wiring import close_clients, register_periodic_jobs

    configure_logging(settings)  # in production Dramatiq's own log lines become JSON too
    outbox_routes.check_routes()  # an unrouted topic would wait forever: refuse to start
    from api.startup_report import redis_problem, report

    # like the API: what is on and off (and Redis not answering), in this process's log
    report(settings, await redis_problem(settings))
    broker = build_broker(settings)
    dramatiq.set_broker(broker)
    sender = DramatiqSender(broker, outbox_routes.routes())
    # The actors' composition: built on first use in their event loop, one per process.
    outbox_routes.configure(lambda: build_services(Runtime.build(settings), outbox_sender=sender))
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    # An idle Dramatiq consumer backs off up to worker_timeout before it polls Redis again;
    # the default 1 s added up to a second per hop (order.paid, then dispatch) to every
    # paid-to-partner latency. 100 ms costs one cheap Redis fetch a tick per queue.
    threads = settings.worker_threads
    worker = dramatiq.Worker(broker, queues=QUEUES, worker_threads=threads, worker_timeout=100)
    worker.start()
    # The periodic jobs run on this (main) loop, so they get their own engine; same builder.
    runtime = Runtime.build(settings)
    register_periodic_jobs()
    # The relay here tells the API processes' open pages what it sent (Redis pub/sub, the
    # channels the console's SSE streams listen to; web.live).
    import web

    relayed = web.LiveTap(
        sender,
        settings,
        web.redis_publisher(runtime.redis),
        web.redis_publisher_many(runtime.redis),
    )
    services = build_services(runtime, outbox_sender=relayed)
    sender.run_batches_here(outbox_routes.batch_handlers(services))
    runner = PeriodicRunner(services)
    if settings.worker_periodic:
        runner.start()
    # An API process's commit rings this process's relay (core.doorbell): no wait for a tick.
    ring = doorbell.channel(settings.redis_prefix)
    listening = asyncio.create_task(doorbell.listen(runtime.redis, ring, wake_local_relays))
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker started", queues=sorted(QUEUES), threads=threads, pid=os.getpid())
    await stop.wait()
    listening.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await listening
    await runner.stop()
    with contextlib.suppress(Exception):
        await asyncio.to_thread(worker.stop)
    await close_clients(services)
    await runtime.close()


def freeze_startup_objects() -> None:
    """Leave what start-up built (modules, mappers, the app's tables: ~150k objects) out of
    every later garbage collection. A full collection scanned them all, ~130 ms with the event
    loop stopped, a few times per burst of jobs (bench/fulfillment.py: the time showed up in
    whatever line allocated last). They live as long as the process anyway."""
    gc.collect()
    gc.freeze()


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:  # the variable named, not a traceback
        raise SystemExit(f"configuration error: {exc}") from None
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
