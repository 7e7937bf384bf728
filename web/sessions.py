"""Server-side sessions for people signed in to the pages, and their CSRF tokens.

The cookie carries only a random session id (HttpOnly, SameSite=Lax, Secure in production);
what it stands for lives in the store: Redis when configured, so every API process knows the
session, else this process's memory. The session id changes at sign-in (no fixation), the
session ends after `IDLE_MINUTES` without a request, and each request re-checks the agent
against the database (an agent switched off or with a new password is signed out at once,
the same rule as a revoked bearer token).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import (
    ServerSideSessionBackend,
    ServerSideSessionConfig,
)
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Empty

from core.settings import Settings

STORE = "web_sessions"
COOKIE = "hotline_session"
IDLE_MINUTES = 30
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
PRE_CSRF_COOKIE = "hotline_csrf"  # the sign-in form's token, before any session exists
_ROTATE = "hotline_rotate_session"
_LOADED = "hotline_session_loaded"


class _RotatingBackend(ServerSideSessionBackend):
    """Litestar's backend, but a fresh id when the request asked for one (sign-in), and
    nothing at all (no store entry, no cookie) for a stranger who brought no session."""

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope.setdefault("state", {})[_LOADED] = dict(data)
        return data

    async def store_in_message(
        self, scope_session: Any, message: Any, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        empty = scope_session is Empty or not scope_session
        if empty and not connection.cookies.get(self.config.key):
            return
        state = connection.scope.get("state", {})
        if not state.get(_ROTATE) and state.get(_LOADED) == scope_session:
            return  # unchanged: its lifetime runs from when `seen` was last written
        await super().store_in_message(scope_session, message, connection)

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        state: dict[str, Any] = connection.scope.setdefault("state", {})
        if state.get(_ROTATE):
            fresh: str = state.setdefault("hotline_new_session_id", self.generate_session_id())
            return fresh
        return super().get_session_id(connection)


class WebSessionConfig(ServerSideSessionConfig):
    _backend_class = _RotatingBackend


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
