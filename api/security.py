"""Bearer tokens to `Principal`, and role guards usable on any route.

Every guard authenticates fully before it looks at roles: the signature, then the token
version and the agent's active flag against the database (one lookup, remembered in
`connection.state`), so a token revoked by a PIN or password change, or an agent switched off,
gets 401 on every guarded route whether or not the handler takes `principal`. The `principal`
dependency reuses that check, or makes it in the request's session on an unguarded route.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from auth import decode_token, token_version_ok, token_version_ok_on
from core.errors import Forbidden, Unauthorized
from core.principal import Principal
from core.runtime import Runtime

PrincipalDep = NamedDependency[Principal]
Conn = ASGIConnection[Any, Any, Any, Any]
Guard = Callable[[Conn, BaseRouteHandler], Awaitable[None]]
_STATE_KEY = "hotline_principal"
_CHECKED_KEY = "hotline_principal_checked"


def _state(connection: Conn) -> dict[str, Any]:
    """The request's state dict itself: `connection.state` builds a new State wrapper around it
    on every access, four times per guarded request here."""
    state: dict[str, Any] = connection.scope.setdefault("state", {})
    return state


def decoded(connection: Conn) -> tuple[Principal, int]:
    """(principal, token version) from the Authorization header, decoded once per request."""
    cached = _state(connection).get(_STATE_KEY)
    if cached is not None:
        result: tuple[Principal, int] = cached
        return result
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "send Authorization: Bearer <token>", headers={"WWW-Authenticate": "Bearer"}
        )
    runtime: Runtime = connection.app.state.runtime
    result = decode_token(runtime.settings.secret_key, token.strip(), now=runtime.clock.now())
    _state(connection)[_STATE_KEY] = result
    return result


async def authenticated(connection: Conn, session: AsyncSession | None = None) -> Principal:
    """The principal of a valid, unrevoked token (else 401), checked once per request; the
    lookup uses `session` when given, else a short session of its own (guards run before the
    request's session exists)."""
    who, version = decoded(connection)
    if _state(connection).get(_CHECKED_KEY) is None:
        if session is not None:
            ok = await token_version_ok(session, who, version)
        else:  # one SELECT without BEGIN/ROLLBACK: this runs on every guarded request
            runtime: Runtime = connection.app.state.runtime
            if runtime.drivers is not None:  # a read: retried once if the connection was lost
                ok = await runtime.drivers.read(
                    lambda driver: token_version_ok_on(driver, who, version)
                )
            else:
                async with runtime.autocommit().connect() as own:
                    ok = await token_version_ok(own, who, version)
        if not ok:
            raise Unauthorized("token revoked", headers={"WWW-Authenticate": "Bearer"})
        _state(connection)[_CHECKED_KEY] = True
    return who


async def principal(request: Request[Any, Any, Any], session: SessionDep) -> Principal:
    """The `principal` dependency: a valid, unrevoked token's principal, else 401."""
    return await authenticated(request, session)


async def customers_and_agents(connection: Conn, _: BaseRouteHandler) -> None:
    await authenticated(connection)


async def agents_only(connection: Conn, _: BaseRouteHandler) -> None:
    if not (await authenticated(connection)).is_agent:
        raise Forbidden("agents only")


def require_roles(*roles: str) -> Guard:
    """Pass agents holding any of `roles`; `admin` passes every role guard."""
    allowed = frozenset(roles) | {"admin"}

    async def guard(connection: Conn, _: BaseRouteHandler) -> None:
        who = await authenticated(connection)
        if not who.has_any(*allowed):
            raise Forbidden(f"needs one of the roles: {', '.join(sorted(allowed))}")

    guard.__name__ = f"require_roles({', '.join(roles)})"
    guard.roles = allowed  # type: ignore[attr-defined]
    return guard


async def _finance_only(connection: Conn, _: BaseRouteHandler) -> None:
    who = await authenticated(connection)
    if not who.has_any("finance"):
        raise Forbidden("needs one of the roles: finance")


# Reconciliation data and finance's reports: the finance role only. Unlike `require_roles`,
# admin does not pass by itself; an administrator who must see them holds finance too.
finance_only: Guard = _finance_only
finance_only.roles = frozenset({"finance"})  # type: ignore[attr-defined]
