"""Database kernel: declarative base, portable column types, engine and sessions.

Engines are built from settings by the caller (never at import time), so tests and
processes choose their own database.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    DateTime,
    MetaData,
    String,
    Table,
    TypeDecorator,
    bindparam,
    event,
    insert,
    text,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_id() -> str:
    """Opaque, unguessable id (API ids are opaque strings): 128 random bits as 32 hex digits,
    the shape uuid4().hex had, without building a UUID (a visible cost at 3 ids per order)."""
    return secrets.token_hex(16)


def id_column() -> Mapped[str]:
    return mapped_column(String(32), primary_key=True, default=new_id)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # Little overflow: a connection past pool_size is closed when it comes back, and opening
    # one (a backend start and SQLAlchemy's codec setup) is dear; with 20 + 10 a 64-client
    # rush opened ~9 a second. Two processes, each with core.drivers' 8, stay well under 100.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 5)
    kwargs.setdefault("pool_pre_ping", False)
    return create_async_engine(url, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def commit(session: AsyncSession) -> None:
    """Commit, unless there is nothing to commit: SQLAlchemy would begin a transaction just to
    end it, which costs a request that never used its session (a rush order) real CPU."""
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        await session.commit()


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session committed when the block ends, rolled back if it raises (a cancellation
    included), closed either way: a request's session (api.app.provide_session) and a route
    that opens its own only on the path that needs one."""
    session = sessions()
    try:
        yield session
        await commit(session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()


def is_postgres(session_or_engine: AsyncSession | AsyncEngine) -> bool:
    if isinstance(session_or_engine, AsyncSession):
        return session_or_engine.get_bind().dialect.name == "postgresql"
    return session_or_engine.dialect.name == "postgresql"


async def insert_many(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT `rows` (column values by name, every row with the same names) into `model`'s table.

    On PostgreSQL in one statement: each column goes as one array parameter and `unnest`
    turns the arrays back into rows. Why: an executemany sends a Bind and an Execute per row,
    SQLAlchemy builds each row's parameters in Python and PostgreSQL starts its executor once
    per row; for a burst's batch of 100 shipments (11 rows written per shipment) that was most
    of the job's Python time and a third of the database's (bench/fulfillment.py). Values go
    through each column type's own bind processing, as an executemany's do, so an aware-UTC
    check or a JSON column's encoding is the same either way. Elsewhere (SQLite, the embedded
    default) it is that plain executemany. tests/integration/test_insert_many.py compares both.
    """
    if not rows:
        return
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        await session.execute(insert(table), list(rows))
        return
    names = list(rows[0])
    for column in table.columns:  # as an executemany would: a missing column's default
        if column.name not in rows[0] and column.default is not None:
            if not column.default.is_scalar:
                raise ValueError(f"insert_many: give {table.name}.{column.name} explicitly")
            rows = [{**row, column.name: column.default.arg} for row in rows]  # type: ignore[attr-defined]
            names.append(column.name)
    params, arrays, outputs = _unnest(table, names, rows, dialect)
    columns = ", ".join(f'"{name}"' for name in names)
    aliases = ", ".join(f"c{n}" for n in range(len(names)))
    statement = (  # names and types from the table's own metadata, values all parameters
        f'INSERT INTO "{table.name}" ({columns}) SELECT {", ".join(outputs)}'  # noqa: S608
        f" FROM unnest({', '.join(arrays)}) AS u({aliases})"
    )
    await session.execute(text(statement), params)


async def update_many(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    *,
    values: Mapping[str, Any] | None = None,
) -> None:
    """UPDATE each of `rows` (its "id" and its other columns by name, every row with the same
    names) in `model`'s table, and set `values` on all of them. On PostgreSQL one statement,
    `UPDATE ... FROM unnest(...)`, for the reasons `insert_many` gives; elsewhere an
    executemany."""
    if not rows:
        return
    table = cast(Table, model.__table__)
    dialect = session.get_bind().dialect
    names = [name for name in rows[0] if name != "id"]
    fixed = dict(values or {})
    if dialect.name != "postgresql":
        plain = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({**{name: bindparam(f"b_{name}") for name in names}, **fixed})
        )
        await session.execute(plain, [{f"b_{k}": v for k, v in row.items()} for row in rows])
        return
    params, arrays, outputs = _unnest(table, ["id", *names], rows, dialect)
    sets = [f'"{name}" = {outputs[n + 1]}' for n, name in enumerate(names)]
    for name, value in fixed.items():
        column = table.c[name]
        process = column.type.bind_processor(dialect)
        params[f"v_{name}"] = process(value) if process else value
        sets.append(f'"{name}" = CAST(:v_{name} AS {column.type.compile(dialect=dialect)})')
    aliases = ", ".join(f"c{n}" for n in range(len(arrays)))
    statement = (  # as in insert_many: names from the metadata, values all parameters
        f'UPDATE "{table.name}" SET {", ".join(sets)}'  # noqa: S608
        f' FROM unnest({", ".join(arrays)}) AS u({aliases}) WHERE "{table.name}".id = u.c0'
    )
    await session.execute(text(statement), params)


def _unnest(
    table: Table, names: list[str], rows: Sequence[Mapping[str, Any]], dialect: Dialect
) -> tuple[dict[str, Any], list[str], list[str]]:
    """Per column of `names`: its values as one array parameter (through the column type's
    bind processing), the array's SQL (`unnest`'s argument) and the output column's SQL."""
    params: dict[str, Any] = {}
    arrays, outputs = [], []
    for n, name in enumerate(names):
        column = table.c[name]
        process = column.type.bind_processor(dialect)
        values = [row[name] for row in rows]
        params[f"c{n}"] = [process(v) for v in values] if process else values
        sql_type = column.type.compile(dialect=dialect)
        if sql_type in ("JSON", "JSONB"):  # sent as the encoded text, cast back per row
            arrays.append(f"CAST(:c{n} AS TEXT[])")
            outputs.append(f"CAST(u.c{n} AS {sql_type})")
        else:
            arrays.append(f"CAST(:c{n} AS {sql_type}[])")
            outputs.append(f"u.c{n}")
    return params, arrays, outputs
