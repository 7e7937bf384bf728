"""Ticketing tests use a runtime of their own, and the HTTP tests an app of their own: the app
under AsyncTestClient serves on another event loop, and pooled database connections belong to
the loop that opened them (see the payments and fulfillment conftests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings


@pytest.fixture(scope="package")
async def tk_runtime(settings: Settings, clock: TravelClock) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture(scope="package")
def runtime(tk_runtime: Runtime) -> Runtime:
    """What the auth fixtures (customer, agent, ...) use on the test loop."""
    return tk_runtime


@pytest.fixture(scope="package")
async def client(
    settings: Settings, clock: TravelClock
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c
