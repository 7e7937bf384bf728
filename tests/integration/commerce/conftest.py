"""Commerce test fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.clock import TravelClock
from core.runtime import Runtime
from tests.integration.commerce.helpers import small_runtime


@pytest.fixture(scope="package")
async def rt(runtime: Runtime, clock: TravelClock) -> AsyncIterator[Runtime]:
    """The tests' own runtime on the test database and clock: the app under AsyncTestClient
    serves on another event loop, and pooled connections belong to the loop that opened them."""
    own = small_runtime(runtime.settings, clock=clock, pool=10)
    yield own
    await own.close()
