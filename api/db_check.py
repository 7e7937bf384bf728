"""Before `hotline serve` and `hotline worker` start: is the database there, and is its schema
this release's? Without this check a missing database, or one nobody migrated, started a
server that answered /ready 200 and 500 to every request while each periodic job logged a
traceback ten times a second. The answer is one line for the operator, never the password."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from api.migrate import alembic_config
from core.db import make_engine

# A firewalled host would otherwise hold start-up for asyncpg's 60 s connect timeout.
CONNECT_SECONDS = 10.0
MIGRATE = "run `hotline migrate` (or `make run`) first"


def _where(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return f"SQLite file {u.database}"
    return f"{u.database} on {u.host or 'localhost'}:{u.port or 5432}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: SQLAlchemy's `orig`, then explicit `raise ... from` causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__


def connect_problem(url: str, exc: BaseException) -> str:
    """One line saying why connecting to `url` failed (host and database, no password)."""
    where = _where(url)
    for cause in _causes(exc):
        if isinstance(cause, asyncpg.exceptions.InvalidCatalogNameError):
            return (
                f"the database {where} does not exist: create it (createdb) or correct "
                "HOTLINE_DATABASE_URL"
            )
        if isinstance(cause, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
            return f"the database {where} refused the connection: {cause}"
        if isinstance(cause, OSError | TimeoutError):  # refused, unknown host, no answer
            reason = str(cause) or type(cause).__name__
            return (
                f"cannot reach the database {where} ({reason}): is PostgreSQL running there, "
                "and is HOTLINE_DATABASE_URL right?"
            )
    return f"the database {where} failed: {type(exc).__name__}: {str(exc)[:300]}"


def schema_problem(url: str, current: set[str]) -> tuple[str | None, str | None]:
    """(refusal, warning) for a database whose Alembic revisions are `current`."""
    script = ScriptDirectory.from_config(alembic_config(url))
    heads = set(script.get_heads())
    where = _where(url)
    if not current:
        return f"the database {where} has no Hotline tables yet: {MIGRATE}", None
    if current == heads:
        return None, None
    try:
        for revision in current:
            script.get_revision(revision)
    except CommandError:  # a revision this code has never seen: a newer release migrated
        # Refusing would stop this (older) release restarting mid rolling deploy; the newer
        # schema only adds what the newer code needs, so say so and go on.
        return None, (
            f"the database {where} is at revision {', '.join(sorted(current))}, newer than this "
            f"release's {', '.join(sorted(heads))}: is an older release starting?"
        )
    return (
        f"the database {where} is at revision {', '.join(sorted(current))} but this release "
        f"needs {', '.join(sorted(heads))}: {MIGRATE}",
        None,
    )


def _revisions(conn: Connection) -> set[str]:
    return set(MigrationContext.configure(conn).get_current_heads())


async def _probe(url: str, schema: bool) -> set[str] | None:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            return await conn.run_sync(_revisions) if schema else None
    finally:
        await engine.dispose()


async def database_problem(url: str, *, schema: bool = True) -> tuple[str | None, str | None]:
    """(refusal, warning): why a server must not start on `url`, and what it should only say.
    `schema=False` checks only that the database answers (`hotline run` migrates next)."""
    try:
        current = await asyncio.wait_for(_probe(url, schema), CONNECT_SECONDS)
    except Exception as exc:  # whatever it is, it becomes the one line
        return connect_problem(url, exc), None
    if current is None:
        return None, None
    return schema_problem(url, current)
