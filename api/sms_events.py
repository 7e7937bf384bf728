"""The `sms.send` job: every SMS a room queues (core.sms.SmsOutbox) is handed to the provider
here, after the commit that queued it and outside any transaction (core.sms_delivery).

`ROUTES` and `declare(broker)` are the Dramatiq side (worker processes), `handlers(services)`
the same job for the in-process relay of the embedded defaults (api.outbox_routes merges them with
the other rooms'). The job is idempotent: a text already sent is skipped. A text that fails
for good lands in the dead-letter list (fulfillment.dead_letter_sms), replayable there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq
from sqlalchemy.ext.asyncio import AsyncSession

import fulfillment
from api.composition import Services
from core.broker import Route, WorkerLocal, declare_actor
from core.sms import TOPIC_SEND
from core.sms_delivery import deliver, requeue_stale

QUEUE = "sms"
ACTOR_SEND = "sms.send"
ROUTES = {TOPIC_SEND: Route(QUEUE, ACTOR_SEND)}


async def send(services: Services, sms_id: str) -> str:
    runtime = services.runtime

    async def dead_letter(session: AsyncSession, failed: str, attempts: int, error: str) -> None:
        await fulfillment.dead_letter_sms(session, failed, attempts, error, now=runtime.clock.now())

    return await deliver(
        runtime.sessions, services.sms_provider, runtime.clock, sms_id, on_failed=dead_letter
    )


async def sweep_job(services: Services) -> int:
    """Periodic: texts left `sending` by a job that died go back to the queue."""
    return await requeue_stale(services.runtime.sessions, services.runtime.clock.now())


# The worker process's composition (api.outbox_routes.configure points it there).
_services: WorkerLocal[Services] = WorkerLocal("api.sms_events")
configure = _services.configure


async def sms_send(sms_id: str) -> None:
    await send(_services.get(), sms_id)


def declare(broker: dramatiq.Broker) -> None:
    # Provider failures are retried durably by the job itself (an outbox message with a
    # backoff); Dramatiq's retries only cover a database hiccup.
    declare_actor(
        broker,
        sms_send,
        Route(QUEUE, ACTOR_SEND),
        {"max_retries": 5, "min_backoff": 1_000, "max_backoff": 16_000},
    )


def handlers(services: Services) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    return {TOPIC_SEND: lambda p: send(services, p["sms_id"])}
