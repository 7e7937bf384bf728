"""Start-up and shut-down: wire ports, domain-event handlers and the in-process worker.

Rooms never import each other upward; when a downstream fact must reach an upstream room
(a payment succeeded -> the order is paid), the handler is wired here.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import cache

from litestar import Litestar

from api.composition import Services
from api.periodic import PeriodicRunner
from core.doorbell import Doorbell
from core.doorbell import channel as doorbell_channel
from core.outbox import add_ringer, remove_ringer
from core.runtime import Runtime


def _on_runtime(
    job: Callable[[Runtime], Awaitable[object]],
) -> Callable[[Services], Awaitable[object]]:
    """A room's periodic job needs only the infrastructure part of the composition."""
    return lambda services: job(services.runtime)


def register_periodic_jobs() -> None:
    """Each room adds its periodic jobs with api.periodic.register(...) here."""
    from api import outbox_jobs, periodic

    # Outbox relay (order.paid -> shipments, dispatches) and the fulfillment watchdog.
    # Each tick is one indexed query; a short tick keeps each outbox hop (order.paid ->
    # shipment -> dispatch) well under a second without a notify channel.
    periodic.register("outbox.relay", 0.1, outbox_jobs.relay_job, wakes_on_outbox=True)
    periodic.register("fulfillment.sweep", 5.0, outbox_jobs.sweep_job)
    # SMS left `sending` by a job that died mid-send are queued again (at-least-once).
    from api import sms_events

    periodic.register("sms.sweep", 30.0, sms_events.sweep_job)
    periodic.register("outbox.purge", 3600.0, outbox_jobs.purge_outbox_job)
    # Lapsed holds give their seats back (safe with several sweepers: SKIP LOCKED).
    import commerce

    periodic.register("commerce.expire_holds", 5.0, _on_runtime(commerce.expire_holds_job))
    periodic.register("idempotency.purge", 3600.0, _on_runtime(commerce.purge_idempotency_keys_job))
    # Card attempts/refunds left `unknown` by a timeout or 5xx are settled by asking Stripe.
    from api.controllers import payments as payments_api

    periodic.register("payments.sweep", 30.0, payments_api.sweep_job)
    # A cancellation whose job the broker lost (Redis restarted empty) is sent again.
    from api import payments_events

    periodic.register("payments.redeliver_cancellations", 60.0, payments_events.redelivery_job)
    # SLA escalation at 75%/90%/breach: exactly once per (ticket, clock, level) by a unique row.
    import ticketing

    periodic.register("ticketing.escalate", 2.0, _on_runtime(ticketing.escalation_job))


async def on_startup(app: Litestar) -> None:
    from api import outbox_routes

    outbox_routes.check_routes()  # an unrouted topic would wait forever: refuse to start
    runtime: Runtime = app.state.runtime
    from api.startup_report import redis_problem, report

    report(runtime.settings, await redis_problem(runtime.settings))
    register_periodic_jobs()
    # Tests drive jobs explicitly; the embedded default runs them in-process.
    if runtime.settings.worker == "inprocess" and runtime.settings.env != "test":
        start_in_process_worker(app)
    if runtime.settings.worker == "dramatiq" and runtime.redis is not None:
        # The relays run in the worker processes: a commit here rings them (core.doorbell).
        bell = Doorbell(runtime.redis, doorbell_channel(runtime.settings.redis_prefix))
        add_ringer(bell.ring)
        app.state.doorbell = bell
    _freeze_startup_objects()


@cache
def _freeze_startup_objects() -> None:
    """Everything made by the first start-up (modules, mappers, routes, the app) lives as long
    as the process: moved out of the collector's generations, a full collection no longer
    walks it. On bench/payments.py a carrier charge's p99 went from 131-168 ms to 69-94 ms.
    Once per process (tests start many apps): anything frozen is never collected as a cycle."""
    gc.freeze()


def start_in_process_worker(app: Litestar) -> None:
    """Embedded defaults: outbox jobs and periodic jobs run in this process (no Redis, no
    worker process). Set before the first request; routes and the runner then share this
    composition. What the relay sends is also told to the pages (web.tap: live updates)."""
    import web
    from api.outbox_jobs import in_process_sender

    services: Services = app.state.services
    sender = web.tap(in_process_sender(services), app.state.web, services.runtime)
    services = replace(services, outbox_sender=sender)
    app.state.services = services
    runner = PeriodicRunner(services)
    runner.start()
    app.state.periodic = runner


async def on_shutdown(app: Litestar) -> None:
    runtime: Runtime = app.state.runtime
    bell: Doorbell | None = getattr(app.state, "doorbell", None)
    if bell is not None:
        remove_ringer(bell.ring)
    runner: PeriodicRunner | None = getattr(app.state, "periodic", None)
    if runner is not None:
        await runner.stop()
    services: Services | None = getattr(app.state, "services", None)
    if services is not None:
        await close_clients(services)
    await runtime.close()


async def close_clients(services: Services) -> None:
    """The keep-alive HTTP sessions of a composition, closed in the loop that opened them: the
    Stripe gateway's read (payments/gateway.py, the webhook's re-fetch) and the partner
    client's (fulfillment/partners.py). Left open, aiohttp logs an error for each when the
    process exits."""
    for client in (services.payments.gateway, services.fulfillment.client):
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()
