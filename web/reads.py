"""A database session for pages that only read: the same pool, no transaction.

Every route gets api.app's `session`: one transaction per request, BEGIN before the first
statement and COMMIT after the page. A page that only reads pays those two round trips and
their CPU for nothing (a third of the order page's database time in bench/shop.py). Pages
override the `session` dependency with `READ_SESSION` to run each SELECT on its own, as the
bearer guard's lookup does. The price: the page's few SELECTs no longer share one snapshot,
which a page shown once cannot tell from a reload. A handler that writes must not use it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from core.runtime import Runtime


async def read_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    runtime: Runtime = request.app.state.runtime
    session = runtime.sessions(bind=runtime.autocommit())
    try:
        yield session
        if session.new or session.dirty or session.deleted:  # would commit statement by statement
            raise RuntimeError("a read-only page changed the database session")
    finally:
        await session.close()


READ_SESSION = {"session": Provide(read_session)}
