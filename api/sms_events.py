"""The `sms.send` job: every SMS a room queues (core.sms.SmsOutbox) is handed to the provider
here, after the commit that queued it and outside any transaction (core.sms_delivery).

`ROUTES` and `declare(broker)` are the Dramatiq side (worker processes), `handlers(runtime)`
the same job for the in-process relay of the embedded defaults (api.worker merges them with
the other rooms'). The job is idempotent: a text already sent is skipped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import dramatiq

from core.broker import Route, WorkerLocal
from core.runtime import Runtime
from core.sms import TOPIC_SEND, SmsOutbox, SmsProvider, build_sms_sender
from core.sms_delivery import deliver, requeue_stale

QUEUE = "sms"
ACTOR_SEND = "sms.send"
ROUTES = {TOPIC_SEND: Route(QUEUE, ACTOR_SEND)}


def provider(runtime: Runtime) -> SmsProvider:
    """The provider behind the runtime's SMS port (tests may swap the port for their own)."""
    port = getattr(runtime, "sms", None) or runtime.ports.get("sms")
    if not isinstance(port, SmsOutbox):
        port = build_sms_sender(runtime.settings, runtime.clock)
    return port.provider


async def send(runtime: Runtime, sms_id: str) -> str:
    return await deliver(runtime.sessions, provider(runtime), runtime.clock, sms_id)


async def sweep_job(runtime: Runtime) -> int:
    """Periodic: texts left `sending` by a job that died go back to the queue."""
    return await requeue_stale(runtime.sessions, runtime.clock.now())


# One runtime per worker process (api.worker configures it before the workers start).
_runtime: WorkerLocal[Runtime] = WorkerLocal("api.sms_events")
configure = _runtime.configure


async def sms_send(sms_id: str) -> None:
    await send(_runtime.get(), sms_id)


def declare(broker: dramatiq.Broker) -> None:
    if ACTOR_SEND not in broker.actors:
        dramatiq.Actor(
            sms_send,  # type: ignore[arg-type]
            broker=broker,
            actor_name=ACTOR_SEND,
            queue_name=QUEUE,
            priority=0,
            # Provider failures are retried durably by the job itself (an outbox message
            # with a backoff); Dramatiq's retries only cover a database hiccup.
            options={"max_retries": 5, "min_backoff": 1_000, "max_backoff": 16_000},
        )


def handlers(runtime: Runtime) -> dict[str, Callable[[dict[str, Any]], Awaitable[object]]]:
    return {TOPIC_SEND: lambda p: send(runtime, p["sms_id"])}
