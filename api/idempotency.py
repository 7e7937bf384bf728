"""HTTP side of Idempotency-Key (docs/http-api.md): read the header, fingerprint the request,
replay, 409 while the first is running, 422 for the same key with another body.

A controller wraps its work:

    return await idempotent(
        request, runtime, session,
        operation="orders.create", caller=principal.actor, payload=msgspec.to_builtins(data),
        work=create,   # async def create() -> (status, json-able body, resource id)
    )

Pass `staged_work=` instead of `work=` to get `finish(status, body, resource_id)` and call it
early, storing the response
before its last statement (placing an order stores it before the capacity hold, so the
hot offer row is not kept locked during one more round trip); otherwise it is stored after.
Pass `committed_work=` for work that commits by itself: it gets `respond(status, body,
resource_id)`, which returns the `idempotency.Completion` (None without a key) for the work
to store atomically with its own commit (placing an order on PostgreSQL does it in the very
statement that holds the seats).

The work's response is stored in the request's own transaction (core.idempotency.complete),
and this helper commits that transaction itself so a failed commit frees the key (release)
instead of leaving it "in progress" until its lease lapses; provide_session's commit that
follows is then a no-op. Without the header the work simply runs (and is committed at once,
too: a capacity hold keeps the offer's row locked until the commit).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import ClientException
from sqlalchemy.ext.asyncio import AsyncSession

from api.input_guard import TOO_DEEP, unreadable_json
from core import idempotency
from core.db import commit
from core.errors import ValidationFailed
from core.runtime import Runtime

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"

Outcome = tuple[int, Any, str | None]  # status, JSON-able body, id of what was made
Finish = Callable[[int, Any, str | None], Awaitable[None]]
Work = Callable[[], Awaitable[Outcome]]
StagedWork = Callable[[Finish], Awaitable[Outcome]]
Respond = Callable[[int, Any, str | None], idempotency.Completion | None]
CommittedWork = Callable[[Respond], Awaitable[Outcome]]


async def idempotent(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    session: AsyncSession | None,
    *,
    operation: str,
    caller: str,
    payload: Any,
    work: Work | None = None,
    staged_work: StagedWork | None = None,
    committed_work: CommittedWork | None = None,
) -> Response[Any]:
    if sum(w is not None for w in (work, staged_work, committed_work)) != 1:
        raise TypeError("pass exactly one of work=, staged_work= or committed_work=")
    if session is None and committed_work is None:
        raise TypeError("only committed_work= runs without the request's session")

    async def run(finish: Finish, respond: Respond) -> Outcome:
        if staged_work is not None:
            return await staged_work(finish)
        if committed_work is not None:
            return await committed_work(respond)
        assert work is not None
        return await work()

    keyed = keyed_request(request, operation=operation, caller=caller, payload=payload)
    if keyed is None:

        async def nothing_to_store(status: int, body: Any, resource_id: str | None) -> None:
            return None

        status, body, _ = await run(nothing_to_store, lambda *_: None)
        await _commit(session)  # at once: a capacity hold keeps its row locked until commit
        return Response(body, status_code=status)
    # End the request session's transaction (nothing is written yet; the auth dependency may
    # have read) so its pooled connection goes back before the claim takes another: a request
    # holding one connection while waiting for a second starves the pool under a rush.
    await _commit(session)
    now = runtime.clock.now()
    claim = await idempotency.claim(
        runtime.sessions,
        scope=keyed.scope,
        key=keyed.key,
        fingerprint=keyed.fingerprint,
        now=now,
        autocommit=runtime.autocommit(),
    )
    if claim.replay is not None:
        return Response(
            claim.replay.body, status_code=claim.replay.status, headers={REPLAYED: "true"}
        )
    stored = False

    async def finish(status: int, body: Any, resource_id: str | None) -> None:
        nonlocal stored
        assert session is not None  # staged_work only
        await idempotency.complete(
            session, claim, status=status, body=body, resource_id=resource_id, now=now
        )
        stored = True

    def respond(status: int, body: Any, resource_id: str | None) -> idempotency.Completion:
        nonlocal stored
        stored = True  # by the work, with its own commit (or rolled back with it)
        return idempotency.completion(claim, status=status, body=body, resource_id=resource_id)

    try:
        status, body, resource_id = await run(finish, respond)
        if not stored:
            await finish(status, body, resource_id)
        await _commit(session)
    except BaseException:
        if session is not None:
            await session.rollback()
        await idempotency.release(runtime.sessions, claim)
        raise
    return Response(body, status_code=status)


def keyed_request(
    request: Request[Any, Any, Any], *, operation: str, caller: str, payload: Any
) -> idempotency.KeyedRequest | None:
    """The request's Idempotency-Key with its scope and fingerprint (None without the header):
    what `idempotent` claims, and what a write claiming its key itself must insert."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    return idempotency.KeyedRequest(
        scope=f"{operation}:{caller}"[:120],
        key=idempotency.check_key(key),
        fingerprint=idempotency.fingerprint(
            {"method": request.method, "path": _path(request), "body": payload}
        ),
    )


def _path(request: Request[Any, Any, Any]) -> str:
    """The request's path as `request.url.path` gives it, read off the ASGI scope: building
    the whole URL object for it was 5% of a carrier charge's Python time (py-spy)."""
    scope = request.scope
    return str(scope.get("root_path", "")) + scope["path"]


async def _commit(session: AsyncSession | None) -> None:
    if session is not None:
        await commit(session)


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$\.?(?P<path>[^`]*)`)?$", re.S)


async def strict_body(request: Request[Any, Any, Any], model: type[Any]) -> Any:
    """Decode the JSON body strictly: Litestar's own decoding is lax and would turn 12.5 or
    "12" into an int; money and quantities must arrive as JSON integers."""
    raw = await request.body()
    try:
        return msgspec.json.decode(raw, type=model, strict=True)
    except msgspec.ValidationError as exc:
        m = _AT.match(str(exc))
        field = (m.group("path") if m else None) or "body"
        message = m.group("msg") if m else str(exc)
        raise ValidationFailed.field(field, message) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # 400, as Litestar answers
        raise unreadable_json(raw) or ClientException(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ClientException(TOO_DEEP) from None
