"""Idempotency-Key for forms: each money- or capacity-moving form carries a key made when it
was rendered (a hidden field), so a double click, a retry after a timeout or the browser's
"resubmit?" gives back what the first submission made instead of a second order or charge.

The same store as the JSON API's header (core.idempotency), scoped to the operation and the
agent; a form only needs the id of what was made, so that is what is stored and replayed.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import idempotency
from core.db import commit
from core.errors import ValidationFailed
from core.runtime import Runtime

FIELD = "idempotency_key"
Respond = Callable[[str], idempotency.Completion]


def new_key() -> str:
    return secrets.token_urlsafe(18)


def key_of(form: Any) -> str:
    key = str(form.get(FIELD) or "")
    if not key:
        raise ValidationFailed.field(FIELD, "the form has no key; reload the page")
    return key


async def _claim(
    runtime: Runtime, session: AsyncSession, key: str, scope: str, payload: Any
) -> idempotency.Claim:
    await commit(session)  # end the request's read before the claim takes a connection
    return await idempotency.claim(
        runtime.sessions,
        scope=scope[:120],
        key=key,
        fingerprint=idempotency.fingerprint(payload),
        now=runtime.clock.now(),
        autocommit=runtime.autocommit(),
    )


async def once_in(
    runtime: Runtime,
    session: AsyncSession,
    *,
    key: str,
    scope: str,
    payload: Any,
    work: Callable[[], Awaitable[str]],
) -> str:
    """Run `work` (in the request's session) once per key; the id it made, or the first's."""
    claim = await _claim(runtime, session, key, scope, payload)
    if claim.replay is not None:
        return str(claim.replay.resource_id)
    try:
        made = await work()
        await idempotency.complete(
            session,
            claim,
            status=200,
            body={"id": made},
            resource_id=made,
            now=runtime.clock.now(),
        )
        await commit(session)
    except BaseException:
        await session.rollback()
        await idempotency.release(runtime.sessions, claim)
        raise
    return made


async def once_committed(
    runtime: Runtime,
    session: AsyncSession,
    *,
    key: str,
    scope: str,
    payload: Any,
    work: Callable[[Respond], Awaitable[str]],
) -> str:
    """The same for work that commits by itself and stores the reply `respond` gives it in
    that commit (placing an order)."""
    claim = await _claim(runtime, session, key, scope, payload)
    if claim.replay is not None:
        return str(claim.replay.resource_id)

    def respond(made: str) -> idempotency.Completion:
        return idempotency.completion(claim, status=200, body={"id": made}, resource_id=made)

    try:
        return await work(respond)
    except BaseException:
        await idempotency.release(runtime.sessions, claim)
        raise
