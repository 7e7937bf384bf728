"""Counterparty files (CSV) streamed into PostgreSQL: the bytes go to COPY as they are read
(PostgreSQL parses the CSV), every line is checked in one set-based query, and the typed
lines are merged by `recon_store.merge`. Python holds one chunk at a time, whatever the size
of the file, and a file with one bad line imports nothing (one transaction).

A format names its columns (any order, a UTF-8 byte-order mark is allowed), the conditions
each line must meet (SQL over the text columns, with the message finance reads), and the
SELECT that turns a raw line into STAGE_COLUMNS.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from sqlalchemy import text

from payments import recon_store
from payments.recon_models import ReconImport
from payments.recon_store import BadImportFile, Sessions

CHUNK = 1 << 20

# Shared line checks (PostgreSQL regular expressions over the raw text).
AMOUNT = (r"~ '^[0-9]{1,10}(\.[0-9]{1,2})?$'", "a number of major units, e.g. 128.00")
CURRENCY = (r"~ '^[A-Z]{3}$'", "a three-letter ISO 4217 code, e.g. CNY")
ZONED_TIME = (
    r"~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)$'",
    "an ISO 8601 time with its zone, e.g. 2026-12-01T10:15:00+08:00",
)
DATE = (r"~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'", "a date, YYYY-MM-DD")
IDENT = (r"~ '^[A-Za-z0-9_.:-]{1,64}$'", "1-64 letters, digits or _ . : -")


@dataclass(frozen=True)
class FileFormat:
    source: str
    columns: tuple[str, ...]
    checks: tuple[tuple[str, tuple[str, str]], ...]  # (column, (SQL condition, message))
    select: str  # FROM recon_raw r; may use :tz, the business time zone


def minor_units(column: str) -> str:
    """SQL: a validated major-unit text amount as integer minor units (two decimals)."""
    return f"round(r.{column}::numeric * 100)::bigint"


async def _body(stream: AsyncIterable[bytes]) -> tuple[list[str], AsyncIterator[bytes]]:
    """The header's column names, and the rest of the bytes to stream on."""
    it = aiter(stream)
    head = b""
    async for chunk in it:
        head += chunk
        if b"\n" in head or len(head) > CHUNK:
            break
    line, _, rest = head.partition(b"\n")
    try:
        names = next(csv.reader([line.decode("utf-8-sig").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration):
        raise BadImportFile("line 1: the header is not a UTF-8 CSV line") from None

    async def tail() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in it:
            yield chunk

    return [n.strip() for n in names], tail()


def _check_header(fmt: FileFormat, names: list[str]) -> None:
    unknown = [n for n in names if n not in fmt.columns]
    missing = [c for c in fmt.columns if c not in names]
    if unknown or missing or len(set(names)) != len(names):
        raise BadImportFile(
            f"line 1: the columns must be {', '.join(fmt.columns)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else ""),
            errors=[{"field": "header", "message": "columns: " + ", ".join(fmt.columns)}],
        )


def _first_bad_line_sql(fmt: FileFormat) -> str:
    conds = [(col, f"coalesce(r.{col} {cond}, false)", msg) for col, (cond, msg) in fmt.checks]
    said = {col: f"{col}: must be {msg}".replace("'", "''") for col, _, msg in conds}
    whens = " ".join(f"WHEN NOT {c} THEN '{said[col]}'" for col, c, _ in conds)
    every = " AND ".join(c for _, c, _ in conds)
    sql = f"SELECT r.seq, CASE {whens} END FROM recon_raw r WHERE NOT ({every})"  # noqa: S608
    return sql + " ORDER BY r.seq LIMIT 1"  # the format's own constants, nothing from outside


async def import_file(
    sessions: Sessions,
    fmt: FileFormat,
    stream: AsyncIterable[bytes],
    *,
    name: str,
    actor: str,
    tz: str,
    now: datetime,
) -> ReconImport:
    """Import one file as one recorded run; a bad file imports nothing (BadImportFile)."""
    names, rest = await _body(stream)
    _check_header(fmt, names)
    digest = hashlib.sha256()

    async def hashed() -> AsyncIterator[bytes]:
        async for chunk in rest:
            digest.update(chunk)
            yield chunk

    import_id = await recon_store.start_import(
        sessions, source=fmt.source, kind="file", params=name, actor=actor, now=now
    )
    try:
        async with sessions() as session, session.begin():
            cols = ", ".join(f"{c} text" for c in fmt.columns)
            await session.execute(
                text(f"CREATE TEMP TABLE recon_raw (seq bigserial, {cols}) ON COMMIT DROP")
            )
            conn = await recon_store.driver(session)
            try:
                await conn.copy_to_table(
                    "recon_raw", source=hashed(), columns=names, format="csv", encoding="utf-8"
                )
            except asyncpg.PostgresError as exc:  # not CSV, not UTF-8, a NUL, extra columns
                where = f" ({exc.context})" if getattr(exc, "context", None) else ""
                raise BadImportFile(f"the file is not valid CSV: {exc}{where}"[:400]) from None
            bad = (await session.execute(text(_first_bad_line_sql(fmt)))).first()
            if bad is not None:
                raise BadImportFile(
                    f"line {int(bad[0]) + 1}: {bad[1]}",
                    errors=[{"field": str(bad[1]).split(":")[0], "message": str(bad[1])}],
                )
            read = int(await session.scalar(text("SELECT count(*) FROM recon_raw")) or 0)
            new, changed = await recon_store.merge(
                session, fmt.source, import_id, fmt.select, {"tz": tz}
            )
            await session.execute(
                text("UPDATE recon_imports SET sha256 = :d WHERE id = :i"),
                {"d": digest.hexdigest(), "i": import_id},
            )
    except Exception as exc:
        await recon_store.finish_import(
            sessions, import_id, counts=(0, 0, 0), now=now, error=str(exc) or type(exc).__name__
        )
        raise
    return await recon_store.finish_import(
        sessions, import_id, counts=(read, new, changed), now=now
    )


async def file_chunks(path: str) -> AsyncIterator[bytes]:
    """A file's bytes, a chunk at a time (the CLI's imports)."""
    with open(path, "rb") as f:  # noqa: ASYNC230 - a local file, read in 1 MiB steps
        while chunk := f.read(CHUNK):
            yield chunk
