"""The finance tests talk to the database through a runtime of their own (as the payments
tests do): the shared app's pool may hold connections made on another event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings


@pytest.fixture(scope="package")
async def own_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings, clock=TravelClock())
    yield rt
    await rt.close()
