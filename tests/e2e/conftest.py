"""The payments tests talk to the database through a runtime of their own: the shared app's
pool may hold connections made on another event loop by in-process HTTP clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed browser test leaves every open page's screenshot and HTML behind, so a
    failure seen once on a loaded CI box can be read afterwards instead of guessed at."""
    report = yield
    browser = getattr(item, "funcargs", {}).get("browser")
    if call.when == "call" and report.failed and isinstance(browser, Browser):  # sync API only
        out = Path(__file__).parent / "screenshots" / "failures"
        out.mkdir(parents=True, exist_ok=True)
        for c, context in enumerate(browser.contexts):
            for p, page in enumerate(context.pages):
                stem = out / f"{item.name}-{c}-{p}"
                try:
                    page.screenshot(path=f"{stem}.png", full_page=True)
                    Path(f"{stem}.html").write_text(page.content(), encoding="utf-8")
                except Exception as exc:  # a closed or crashed page must not hide the failure
                    Path(f"{stem}.txt").write_text(repr(exc), encoding="utf-8")
    return report
