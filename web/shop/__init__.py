"""The customers' web shop under /shop/: browse, sign in (phone and PIN, or a code by SMS),
book, pay (phone account, or card on the pay page), follow orders, complain, and the account.

Server-rendered pages that work before (and without) JavaScript; each handler reads a form and
calls the rooms' own functions, as the JSON API does. One guard (web.shop.access) decides who
may open what; errors are pages (web.shop.errors); the pay page behind a pay link
(web.shop.paypage) is rendered here for api's /pay/{token} handler.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from core.settings import Settings
from web.pages import STATIC
from web.sessions import session_config
from web.shop import after, browse, orders, pay, signin
from web.shop.access import shop_guard, signed_in
from web.shop.errors import handlers

__all__ = ["shop_routes"]


def shop_routes(
    settings: Settings, error_types: list[type[BaseException]]
) -> list[ControllerRouterHandler]:
    shop = Router(
        "/shop",
        route_handlers=[
            *browse.ROUTES,
            *signin.ROUTES,
            *orders.ROUTES,
            *pay.ROUTES,
            *after.ROUTES,
        ],
        guards=[shop_guard],
        middleware=[session_config(settings).middleware],
        dependencies={"shopper": Provide(signed_in, sync_to_thread=False)},
        exception_handlers=handlers(error_types),
        include_in_schema=False,
        opt={"accepts": ("application/x-www-form-urlencoded",)},  # as the console's (web/)
    )
    assets: Any = create_static_files_router(
        path="/shop/assets",
        directories=[STATIC],
        include_in_schema=False,
        name="shop_assets",
        cache_control=None,
    )
    return [shop, assets]
