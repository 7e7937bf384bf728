"""A kept-alive aiohttp session per event loop, for the clients that call out on hot paths
(the Stripe webhook's re-fetch, partner dispatch; each says why aiohttp and not httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp


class LoopSession:
    """`make()`'s session, made on first use in the running loop and reused: connections
    stay alive between calls. A session belongs to the loop it was made in, so another loop
    (a test's, a worker's actors') gets its own; `aclose` closes the current one (call it in
    that loop, at shutdown)."""

    def __init__(self, make: Callable[[], aiohttp.ClientSession]) -> None:
        self._make = make
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop = self._make(), loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
