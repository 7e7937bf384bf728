"""Who may open a console page: one guard on the console router, checked on the server for
every page, partial, form post and live stream.

- a signed-in agent (a server-side session of kind `agent`; a bearer token, a customer's
  token or a customer's session never opens a page), not idle for longer than
  `IDLE_MINUTES`, still active with the same password (token version) in the database;
- the roles a handler names in `opt["roles"]` (admin passes every role);
- on every unsafe method, the session's CSRF token in the `X-CSRF-Token` header (htmx sends
  it from `hx-headers` on <body>) or the `_csrf` form field (plain forms).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

import auth
from core.principal import Principal
from core.runtime import Runtime
from web.sessions import CSRF_FIELD, CSRF_HEADER, PRE_CSRF_COOKIE, idle_expired, same_token

Conn = ASGIConnection[Any, Any, Any, Any]
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
AGENT_KEY = "hotline_web_agent"
SEEN_STEP = 30  # seconds; the idle timeout is IDLE_MINUTES


class SignInRequired(NotAuthorizedException):
    """No usable session: the page sends the person to the sign-in form."""


class CsrfRefused(PermissionDeniedException):
    """An unsafe request without the page's CSRF token (another site's form, or a stale tab)."""


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    name: str

    @property
    def id(self) -> str:
        return self.principal.id

    @property
    def supervises(self) -> bool:
        return self.principal.has_any("supervisor", "admin")

    def may(self, *roles: str) -> bool:
        return self.principal.has_any(*roles, "admin")


def _session(connection: Conn) -> dict[str, Any]:
    data = connection.scope.get("session")
    return data if isinstance(data, dict) else {}


async def _still_valid(connection: Conn, who: Principal, version: int) -> bool:
    """The same check as a bearer token's (api.security): one SELECT on a raw driver
    connection where there is one (PostgreSQL), else a short ORM session."""
    runtime: Runtime = connection.app.state.runtime
    if runtime.drivers is not None:
        return bool(await runtime.drivers.read(lambda d: auth.token_version_ok_on(d, who, version)))
    async with runtime.sessions() as session:
        return await auth.token_version_ok(session, who, version)


def _unsafe(connection: Conn) -> bool:
    return isinstance(connection, Request) and connection.method not in SAFE


async def check_csrf(connection: Conn, *expected: str | None) -> None:
    sent = connection.headers.get(CSRF_HEADER)
    if not sent and isinstance(connection, Request):
        sent = (await connection.form()).get(CSRF_FIELD)
    if not any(same_token(token, sent) for token in expected):
        raise CsrfRefused("the form is stale or came from elsewhere; reload the page")


async def console_guard(connection: Conn, handler: BaseRouteHandler) -> None:
    data = _session(connection)
    if data.get("kind") != "agent":  # store nothing (and no cookie) for a stranger
        connection.clear_session()
    if handler.opt.get("public"):  # sign-in, language: CSRF by its own cookie or the session's
        if _unsafe(connection):
            await check_csrf(connection, connection.cookies.get(PRE_CSRF_COOKIE), data.get("csrf"))
        return
    if data.get("kind") != "agent" or not data.get("agent_id"):
        raise SignInRequired("sign in first")  # customers' sessions included
    if idle_expired(data):
        connection.clear_session()
        raise SignInRequired("signed out after a quiet spell; sign in again")
    who = Principal("agent", str(data["agent_id"]), frozenset(data.get("roles") or ()))
    if not await _still_valid(connection, who, int(data.get("tv") or 0)):
        connection.clear_session()
        raise SignInRequired("your sign-in is no longer valid; sign in again")
    if _unsafe(connection):
        await check_csrf(connection, data.get("csrf"))
    roles = handler.opt.get("roles")
    if roles and not who.has_any(*roles, "admin"):
        raise PermissionDeniedException(f"needs one of the roles: {', '.join(roles)}")
    now = time.time()
    # a live stream is not the agent at work; and the session is written back only when it
    # changed, so `seen` moves on at most once every SEEN_STEP seconds
    if not handler.opt.get("passive") and now - float(data.get("seen") or 0) > SEEN_STEP:
        data["seen"] = now
    connection.scope.setdefault("state", {})[AGENT_KEY] = SignedIn(who, str(data.get("name")))


def signed_in(request: Request[Any, Any, Any]) -> SignedIn:
    """The `me` dependency: the agent the guard let in."""
    me: SignedIn = request.scope["state"][AGENT_KEY]
    return me


MeDep = NamedDependency[SignedIn]
