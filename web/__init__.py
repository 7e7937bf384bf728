"""Pages for people, served by the same Litestar app as the JSON API: the agent and
supervisor console today (web.console), the customer shop later, on the same parts:

- templates (web.pages) and languages (web.i18n), one stylesheet and script (web/static),
  htmx and its SSE extension vendored under api/static/vendor;
- server-side sessions and CSRF (web.sessions, web.access), errors as pages (web.errors);
- live updates: outbox facts -> channels (web.live.LiveTap) -> SSE (web.console.stream).

api.app.create_app mounts it with `web_parts(...)`; web never imports api (the composition
reaches the handlers by dependency name, typed by web.ports.Ports).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from litestar import Router
from litestar.channels import ChannelsPlugin
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.static_files import create_static_files_router
from litestar.stores.base import Store
from litestar.template.config import TemplateConfig
from litestar.types import ControllerRouterHandler

from core.errors import DomainError
from core.outbox import Sender
from core.runtime import Runtime
from web.access import console_guard, signed_in
from web.console import booking, calls, handoff, signin, stream, tickets, wallboard
from web.errors import domain_error_page, http_error_page, sessions_down_page, unexpected_page
from web.live import (
    LiveTap,
    channels_plugin,
    plugin_publisher,
    redis_publisher,
    redis_publisher_many,
    tell_call,
)
from web.pages import STATIC, template_config
from web.sessions import STORE, SessionStoreDown, session_config, session_store

__all__ = [
    "LiveTap",
    "WebParts",
    "plugin_publisher",
    "redis_publisher",
    "redis_publisher_many",
    "tap",
    "tell_call",
    "web_parts",
]


@dataclass(frozen=True)
class WebParts:
    routes: list[ControllerRouterHandler]
    plugins: list[Any]
    stores: dict[str, Store]
    template_config: TemplateConfig[Any]
    channels: ChannelsPlugin


def _console_handlers() -> list[ControllerRouterHandler]:
    return [
        *signin.ROUTES,
        *calls.ROUTES,
        *handoff.ROUTES,
        *booking.ROUTES,
        *tickets.ROUTES,
        *wallboard.ROUTES,
        *stream.ROUTES,
    ]


def web_parts(runtime: Runtime, *, error_types: Iterable[type[BaseException]] = ()) -> WebParts:
    """Everything the app needs to serve the pages. `error_types` are the app's own
    exception-handler keys: the console answers each of them with a page instead."""
    settings = runtime.settings
    handlers: dict[Any, Any] = {t: unexpected_page for t in error_types}
    handlers.update({DomainError: domain_error_page, Exception: unexpected_page})
    handlers[HTTPException] = http_error_page
    handlers[SessionStoreDown] = sessions_down_page
    for t in error_types:
        if issubclass(t, DomainError):
            handlers[t] = domain_error_page
        elif issubclass(t, HTTPException):
            handlers[t] = http_error_page
    console = Router(
        "/",
        route_handlers=_console_handlers(),
        guards=[console_guard],
        middleware=[session_config(settings).middleware],
        dependencies={"me": Provide(signed_in, sync_to_thread=False)},
        exception_handlers=handlers,
        include_in_schema=False,
        # forms post url-encoded (no template sets an enctype): api/input_guard.py looks for
        # NUL in their fields and answers another type, multipart included, with a 415 page
        # rather than a second way to read them (where an uploaded file would meet a field)
        opt={"accepts": ("application/x-www-form-urlencoded",)},
    )
    assets = create_static_files_router(
        path="/console/assets",
        directories=[STATIC],
        include_in_schema=False,
        name="console_assets",
        cache_control=None,
    )
    channels = channels_plugin(settings)
    from web.shop import shop_routes  # the customers' shop: its own router, guard and errors

    shop = shop_routes(settings, [*error_types])
    return WebParts(
        routes=[console, assets, *shop],
        plugins=[channels],
        stores={STORE: session_store(settings, runtime.redis)},
        template_config=template_config(settings),
        channels=channels,
    )


def tap(sender: Sender, parts: WebParts, runtime: Runtime) -> Sender:
    """The relay's sender, telling the pages what it sent (web.live)."""
    return LiveTap(sender, runtime.settings, plugin_publisher(parts.channels))
