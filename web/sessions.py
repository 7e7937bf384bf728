"""Server-side sessions for people signed in to the pages, and their CSRF tokens.

The cookie carries only a random session id (HttpOnly, SameSite=Lax, Secure in production);
what it stands for lives in the store: Redis when configured, so every API process knows the
session, else this process's memory. The session id changes at sign-in (no fixation), the
session ends after `IDLE_MINUTES` without a request, and each request re-checks the agent
against the database (an agent switched off or with a new password is signed out at once,
the same rule as a revoked bearer token).

With Redis configured and unreachable, the pages refuse rather than fall back: a session kept
in one process's memory is unknown to the other API processes behind the load balancer (no
sticky sessions), so the next request would sign the person out, a sign-out on one process
would leave the session alive on another, and every session would be lost again when Redis
returns. Instead a sign-in, and every page that needs its session, answers a readable 503
(`SessionStoreDown`, web.errors and web.shop.errors); public pages read without one go on
for a stranger.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import structlog
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.base import SessionMiddleware
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Empty, Message
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.settings import Settings

STORE = "web_sessions"
COOKIE = "hotline_session"
IDLE_MINUTES = 30
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
PRE_CSRF_COOKIE = "hotline_csrf"  # the sign-in form's token, before any session exists
_ROTATE = "hotline_rotate_session"
_LOADED = "hotline_session_loaded"
_DOWN = "hotline_session_store_down"  # read as a stranger: write nothing back
RETRY_AFTER_SECONDS = 2  # as api.outages: a Redis restart takes about this long
_STORE_GONE = (RedisConnectionError, RedisTimeoutError)
_SAFE = frozenset({"GET", "HEAD"})
log = structlog.get_logger("hotline.web")


class SessionStoreDown(Exception):
    """The session store (Redis) did not answer: the page answers 503, nothing was signed in."""


def store_down(request: Request[Any, Any, Any], exc: BaseException) -> None:
    """The operator's line: which service, what it stops, the error."""
    log.warning(
        "dependency unavailable: web sessions (Redis) unreachable; sign-in and signed-in "
        "pages answer 503 until it is back (GET /ready)",
        service="redis",
        path=request.url.path,
        error=type(exc.__cause__ or exc).__name__,
    )


class _RotatingBackend(ServerSideSessionBackend):
    """Litestar's backend, but a fresh id when the request asked for one (sign-in), and
    nothing at all (no store entry, no cookie) for a stranger who brought no session."""

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        state = connection.scope.setdefault("state", {})
        try:
            data = await super().load_from_connection(connection)
        except _STORE_GONE as exc:
            handler = connection.scope.get("route_handler")
            public = handler is not None and handler.opt.get("public")
            if not public or connection.scope.get("method") not in _SAFE:
                raise SessionStoreDown("the session store is unreachable") from exc
            state[_DOWN] = True  # browsing the shop needs no session: go on as a stranger
            data = {}
        state[_LOADED] = dict(data)
        return data

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        empty = scope_session is Empty or not scope_session
        if empty and not connection.cookies.get(self.config.key):
            return
        state = connection.scope.get("state", {})
        if state.get(_DOWN):
            return
        if not state.get(_ROTATE) and state.get(_LOADED) == scope_session:
            return  # unchanged: its lifetime runs from when `seen` was last written
        try:
            await super().store_in_message(scope_session, message, connection)
        except _STORE_GONE as exc:
            raise SessionStoreDown("the session store is unreachable") from exc

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state: dict[str, Any] = connection.scope.setdefault("state", {})
        if state.get(_ROTATE):
            fresh: str = state.setdefault("hotline_new_session_id", self.generate_session_id())
            return fresh
        return super().get_session_id(connection)


class _Middleware(SessionMiddleware[_RotatingBackend]):
    """Litestar's, but a session that cannot be stored once the handler has returned (Redis
    went away in between) turns the answer into the router's 503 page. Litestar would raise
    "Exception caught after response started" and the server would send a bare 500. The
    handler's work stands (a sign-in was audited); the person signs in again."""

    def create_send_wrapper(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        replaced = False

        async def wrapped_send(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the handler's body: its headers were never sent
            if message["type"] == "http.response.start":
                try:
                    await self.backend.store_in_message(
                        connection.scope.get("session"), message, connection
                    )
                except SessionStoreDown as exc:
                    replaced = True
                    await _answer(connection, exc)
                    return
            await connection.send(message)

        return wrapped_send


async def _answer(connection: ASGIConnection[Any, Any, Any, Any], exc: Exception) -> None:
    scope = connection.scope
    handlers = scope["route_handler"].resolve_exception_handlers()
    request: Request[Any, Any, Any] = connection.app.request_class(
        scope, connection.receive, connection.send
    )
    response: Response[Any] = handlers[SessionStoreDown](request, exc)
    await response.to_asgi_response(app=None, request=request)(
        scope, connection.receive, connection.send
    )


class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = _RotatingBackend

    @property
    def middleware(self) -> DefineMiddleware:
        return DefineMiddleware(_Middleware, backend=self._backend_class(config=self))


def session_config(settings: Settings) -> WebSessionConfig:
    return WebSessionConfig(
        key=COOKIE,
        max_age=IDLE_MINUTES * 60,
        # The store forgets a session IDLE_MINUTES after it was last written, and the guards
        # (web.access, web.shop.access) write it back whenever `seen` moves on (every
        # SEEN_STEP seconds of use), so it lives exactly as long as the idle rule lets it.
        # Renewing on every read too ran a Lua script (GET, TTL, EXPIRE) per page instead
        # of a GET: a twentieth of the caller's record's CPU (bench/console.py).
        renew_on_access=False,
        secure=settings.is_production,
        httponly=True,
        samesite="lax",  # links into the console (a softphone's screen pop) keep the session
        store=STORE,
        path="/",
    )


def session_store(settings: Settings, redis: Any) -> Store:
    if redis is not None:
        return RedisStore(redis, namespace=f"{settings.redis_prefix}:web-session")
    return MemoryStore()


async def check_store(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Before a sign-in does anything (audit row, counters cleared, a new PIN): the store that
    must keep its session answers. Else the login would be done and its session lost."""
    store = connection.app.stores.get(STORE)
    try:
        await store.exists("-")  # one EXISTS with Redis
    except _STORE_GONE as exc:
        raise SessionStoreDown("the session store is unreachable") from exc


def rotate_session_id(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    """Ask the session middleware for a new id on this response (call at sign-in)."""
    connection.scope.setdefault("state", {})[_ROTATE] = True


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def idle_expired(data: dict[str, Any], now: float | None = None) -> bool:
    seen = data.get("seen")
    current = time.time() if now is None else now
    return not isinstance(seen, int | float) or current - seen > IDLE_MINUTES * 60
