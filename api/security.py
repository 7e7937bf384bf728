"""Bearer tokens to `Principal`, and role guards usable on any route.

Guards decode the token once per request (stashed in `connection.state`) and check roles only;
the `principal` dependency also checks the token version against the database, so a token
revoked by a PIN or password change is refused on every route that takes `principal`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

from api.deps import SessionDep
from auth import decode_token, token_version_ok
from core.errors import Forbidden, Unauthorized
from core.principal import Principal
from core.runtime import Runtime

PrincipalDep = NamedDependency[Principal]
Conn = ASGIConnection[Any, Any, Any, Any]
Guard = Callable[[Conn, BaseRouteHandler], None]
_STATE_KEY = "hotline_principal"


def decoded(connection: Conn) -> tuple[Principal, int]:
    """(principal, token version) from the Authorization header, decoded once per request."""
    cached = connection.state.get(_STATE_KEY)
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
    connection.state[_STATE_KEY] = result
    return result


async def principal(request: Request[Any, Any, Any], session: SessionDep) -> Principal:
    """The `principal` dependency: a valid, unrevoked token's principal, else 401."""
    who, version = decoded(request)
    if request.state.get("hotline_principal_checked") is None:
        if not await token_version_ok(session, who, version):
            raise Unauthorized("token revoked", headers={"WWW-Authenticate": "Bearer"})
        request.state["hotline_principal_checked"] = True
    return who


def customers_and_agents(connection: Conn, _: BaseRouteHandler) -> None:
    decoded(connection)


def agents_only(connection: Conn, _: BaseRouteHandler) -> None:
    if not decoded(connection)[0].is_agent:
        raise Forbidden("agents only")


def require_roles(*roles: str) -> Guard:
    """Pass agents holding any of `roles`; `admin` passes every role guard."""
    allowed = frozenset(roles) | {"admin"}

    def guard(connection: Conn, _: BaseRouteHandler) -> None:
        who = decoded(connection)[0]
        if not who.has_any(*allowed):
            raise Forbidden(f"needs one of the roles: {', '.join(sorted(allowed))}")

    guard.__name__ = f"require_roles({', '.join(roles)})"
    guard.roles = allowed  # type: ignore[attr-defined]
    return guard
