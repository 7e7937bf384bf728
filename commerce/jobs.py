"""Periodic jobs of the commerce room (registered by api/wiring.py)."""

from __future__ import annotations

from datetime import timedelta

from core import idempotency
from core.runtime import Runtime

from .service import expire_due_holds


async def expire_holds_job(runtime: Runtime) -> int:
    """Expire lapsed holds in batches until none are due. Several copies may run at once
    (SKIP LOCKED + conditional updates); each batch is its own short transaction so seats
    return to sale promptly."""
    total = 0
    while True:
        async with runtime.sessions() as session, session.begin():
            n = await expire_due_holds(session, runtime.clock.now())
        total += n
        if n == 0:
            return total


async def purge_idempotency_keys_job(runtime: Runtime) -> int:
    """Forget used Idempotency-Keys after HOTLINE_IDEMPOTENCY_RETENTION_HOURS (24 by default)."""
    retention = timedelta(hours=runtime.settings.idempotency_retention_hours)
    async with runtime.sessions() as session, session.begin():
        return await idempotency.purge_expired(session, runtime.clock.now(), retention)
