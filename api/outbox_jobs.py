"""The outbox's own periodic jobs and the in-process relay's sender: the relay (due messages
to the process's sender), the purge of sent messages, and the fulfillment watchdog. Both the
API on embedded defaults (api.wiring) and `hotline worker` (api.worker) run them.
"""

from __future__ import annotations

import time
from datetime import timedelta

from api import outbox_routes
from api.composition import Services
from core.broker import InProcessSender
from core.outbox import Sender, purge_sent, relay_once
from fulfillment import RetryPolicy, redeliver_lost_order_paid, sweep_due


def in_process_sender(services: Services) -> InProcessSender:
    return InProcessSender(outbox_routes.handlers(services))


async def relay_job(services: Services) -> int:
    """Periodic: move due outbox messages to the sender this process was given."""
    sender: Sender | None = services.outbox_sender
    if sender is None:
        return 0
    runtime = services.runtime
    total = 0
    while True:  # keep going while batches come back full, so a burst is not paced by the tick
        sent = await relay_once(runtime.sessions, sender, now=runtime.clock.now(), batch=100)
        total += sent
        if sent < 100:
            return total


async def purge_outbox_job(services: Services) -> int:
    """Periodic: delete sent messages after HOTLINE_OUTBOX_RETENTION_HOURS (pending ones stay)."""
    runtime = services.runtime
    retention = timedelta(hours=runtime.settings.outbox_retention_hours)
    async with runtime.sessions() as session, session.begin():
        return await purge_sent(session, runtime.clock.now(), retention)


# When this process last scanned, per fulfillment context (a memo of this process's own pace:
# another process scanning too only repeats an idempotent redelivery).
_last_redelivery_scan: dict[int, float] = {}


def redelivery_scan_seconds(policy: RetryPolicy) -> float:
    """How often to look for lost `order.paid` jobs: a quarter of redeliver_seconds, so a lost
    job is sent again at most ~1.25 x redeliver_seconds after it was first sent, but at most
    once a minute (the scan reads two days of `order.paid`) and at least every half second."""
    return max(0.5, min(60.0, policy.redeliver_seconds / 4))


async def sweep_job(services: Services) -> int:
    """Periodic: re-enqueue pending shipments that a dead worker left behind, and paid orders
    whose `order.paid` job the broker lost (Dramatiq gave up, or Redis restarted empty)."""
    ctx = services.fulfillment
    count = await sweep_due(ctx)
    last = _last_redelivery_scan.get(id(ctx))
    if last is None or time.monotonic() - last >= redelivery_scan_seconds(ctx.policy):
        _last_redelivery_scan[id(ctx)] = time.monotonic()
        count += await redeliver_lost_order_paid(ctx)
    return count
