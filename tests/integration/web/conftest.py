"""The pages' tests share one thing: a browser, the suite's client with a clean cookie jar
that does not follow redirects (a page's 303 is part of what they check)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Litestar]


@pytest.fixture
async def browser(client: Client) -> AsyncIterator[Client]:
    """The shared client with a clean cookie jar (a fresh browser)."""
    client.cookies.clear()
    follows, client.follow_redirects = client.follow_redirects, False
    yield client
    client.follow_redirects = follows
    client.cookies.clear()
