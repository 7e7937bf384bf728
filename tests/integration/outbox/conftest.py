"""The outbox tests use a runtime of their own on the test loop (see the payments conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings


@pytest.fixture(scope="package")
async def ob_runtime(settings: Settings, clock: TravelClock) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings, clock=clock)
    yield rt
    await rt.close()


@pytest.fixture(scope="package")
def runtime(ob_runtime: Runtime) -> Runtime:
    """What the auth fixtures (customer, agent, ...) use on the test loop."""
    return ob_runtime
