"""The Litestar app factory: composes every room's controllers, one session per request."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any

from litestar import Litestar, Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler, Middleware
from sqlalchemy.ext.asyncio import AsyncSession

from api import health, problem_pages
from api.composition import Services, build_services
from api.controllers import ROUTE_HANDLERS
from api.deps import RuntimeDep, ServicesDep
from api.input_guard import HotlineRequest, guard_input
from api.logging import configure_logging
from api.observability import RequestObservability
from api.openapi import document_problems, openapi_config
from api.outages import OUTAGE_HANDLERS
from api.problems import EXCEPTION_HANDLERS
from api.security import principal
from core.clock import Clock
from core.db import unit_of_work
from core.runtime import Runtime
from core.settings import Settings, load_settings
from web import web_parts


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def provide_runtime(services: ServicesDep) -> Runtime:
    """The composition's runtime. Taken from `services` (not from state) so the dependencies
    form one chain, services -> runtime -> session -> principal: Litestar resolves independent
    dependencies of one handler in an anyio task group, two tasks per request (a quarter more
    server CPU on POST /v1/orders, bench/cpu_ab.py)."""
    return services.runtime


async def provide_session(runtime: RuntimeDep) -> AsyncGenerator[AsyncSession, None]:
    """One session per request; committed when the handler returns, rolled back if it raises.

    It takes `runtime` so that Litestar resolves the dependencies one after the other: two
    independent ones (runtime, session) are resolved in an anyio task group, two tasks
    spawned on every request, which cost the rush more than the session itself."""
    async with unit_of_work(runtime.sessions) as session:
        yield session


def client_address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    services: Services | None = None,
    clock: Clock | None = None,
    extra_routes: Sequence[ControllerRouterHandler] = (),
    middleware: Sequence[Middleware] = (),
) -> Litestar:
    """The app; `extra_routes` and `middleware` exist for bench/ (which compares limiters).
    `services` (tests' fakes) is built from `runtime` when not given, once per app."""
    if services is not None:
        runtime = services.runtime
    settings = settings or (runtime.settings if runtime else load_settings())
    configure_logging(settings)
    runtime = runtime or Runtime.build(settings, clock=clock)
    services = services or build_services(runtime)

    from api.wiring import on_shutdown, on_startup

    demo_routes: list[ControllerRouterHandler] = []
    if settings.env == "demo":  # the seeded courier answers without a separate process
        from api.demo_courier import ROUTES as demo_routes

    # the console's pages (web/): HTML answers for the same error types as the API's problems
    pages = web_parts(runtime, error_types=[*EXCEPTION_HANDLERS, *OUTAGE_HANDLERS])

    app = Litestar(
        route_handlers=[
            *health.ROUTES,
            *ROUTE_HANDLERS,
            *problem_pages.ROUTES,
            *demo_routes,
            *pages.routes,
            *extra_routes,
        ],
        plugins=pages.plugins,
        stores=pages.stores,
        template_config=pages.template_config,
        middleware=list(middleware),
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            "services": Provide(provide_services, sync_to_thread=False),
            "session": Provide(provide_session),
            "principal": Provide(principal),
        },
        # PostgreSQL or Redis unreachable -> 503 (api/outages.py), the rest by api/problems.py
        exception_handlers={**EXCEPTION_HANDLERS, **OUTAGE_HANDLERS},
        before_request=guard_input,
        request_class=HotlineRequest,
        openapi_config=openapi_config(),
        state=State({"runtime": runtime, "services": services, "web": pages}),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
    )
    document_problems(app)
    # outside Litestar's own stack, so 404s and errors get a request id, a log line and counts
    app.asgi_handler = RequestObservability(app.asgi_handler)
    return app
