"""The payments tests talk to the database through a runtime of their own: the shared app's
pool may hold connections made on another event loop by in-process HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.sync_api import expect

from core.clock import TravelClock
from core.runtime import Runtime
from core.settings import Settings

# Playwright's 5 s default for `expect` is a guess about the machine: a 2-core CI box running
# the server, a worker, localstripe and Chromium at once missed it. It bounds a failure only.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="package")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings, clock=TravelClock())
    yield rt
    await rt.close()
