"""Who may open a shop page: one guard on the shop router.

- a customer's server-side session (kind `customer`), not idle for longer than `IDLE_MINUTES`,
  still valid against the database (a new PIN signs every other session out, as it revokes
  every token); an agent's console session is no customer here, and a customer's session
  never opens a console page (web.access.console_guard asks for kind `agent`);
- pages marked `opt["public"]` (browsing, sign-in, codes, the language switch) open for anyone;
- on every unsafe method the CSRF token of the session, or before sign-in the shop's own
  pre-session cookie, in the `_csrf` field or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.handlers.base import BaseRouteHandler

import auth
from core.principal import Principal
from core.runtime import Runtime
from web.access import SEEN_STEP, SignInRequired, check_csrf
from web.ports import PortsDep
from web.sessions import PRE_CSRF_COOKIE, idle_expired

Conn = ASGIConnection[Any, Any, Any, Any]
CUSTOMER_KEY = "hotline_shop_customer"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Shopper:
    principal: Principal
    phone: str

    @property
    def id(self) -> str:
        return self.principal.id


def _session(connection: Conn) -> dict[str, Any]:
    data = connection.scope.get("session")
    return data if isinstance(data, dict) else {}


def customer_session(connection: Conn) -> dict[str, Any] | None:
    data = _session(connection)
    return data if data.get("kind") == "customer" and data.get("customer_id") else None


async def _still_valid(connection: Conn, who: Principal, version: int) -> bool:
    """The bearer guard's one SELECT (api.security.authenticated): no BEGIN/ROLLBACK round
    trips around it on every page."""
    runtime: Runtime = connection.app.state.runtime
    if runtime.drivers is not None:
        drivers = runtime.drivers
        return await drivers.read(lambda driver: auth.token_version_ok_on(driver, who, version))
    async with runtime.autocommit().connect() as own:
        return await auth.token_version_ok(own, who, version)


async def shop_guard(connection: Conn, handler: BaseRouteHandler) -> None:
    data = customer_session(connection)
    unsafe = isinstance(connection, Request) and connection.method not in SAFE
    if data is not None and idle_expired(data):
        connection.clear_session()
        data = None
    who = None
    if data is not None:
        who = Principal("customer", str(data["customer_id"]))
        if not await _still_valid(connection, who, int(data.get("tv") or 0)):
            connection.clear_session()
            data, who = None, None
    if handler.opt.get("public"):
        if unsafe:
            await check_csrf(
                connection,
                connection.cookies.get(PRE_CSRF_COOKIE),
                data.get("csrf") if data else None,
            )
    elif who is None or data is None:
        raise SignInRequired("sign in first")
    elif unsafe:
        await check_csrf(connection, data.get("csrf"))
    if who is not None and data is not None:
        now = time.time()
        # the session is written back only when it changed (web.sessions): `seen` moves on
        # at most once every SEEN_STEP seconds, so most pages cost no store write
        if now - float(data.get("seen") or 0) > SEEN_STEP:
            data["seen"] = now
        connection.scope.setdefault("state", {})[CUSTOMER_KEY] = Shopper(
            who, str(data.get("phone") or "")
        )


def shopper(request: Request[Any, Any, Any]) -> Shopper | None:
    """The `shopper` dependency: the signed-in customer, or None on a public page."""
    found: Shopper | None = request.scope.get("state", {}).get(CUSTOMER_KEY)
    return found


def signed_in(request: Request[Any, Any, Any], services: PortsDep) -> Shopper:
    """The `shopper` dependency. It takes `services` (unused) so that Litestar resolves the
    two one after the other: independent dependencies of one handler are resolved in an anyio
    task group, two tasks per request, a twentieth of the order page's CPU (bench/shop.py)."""
    found = shopper(request)
    if found is None:  # the guard let a public handler through; it needs a customer
        raise SignInRequired("sign in first")
    return found


ShopperDep = NamedDependency[Shopper]
