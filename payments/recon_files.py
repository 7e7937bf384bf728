"""Counterparty files (CSV) streamed into PostgreSQL: the bytes go to COPY as they are read
(PostgreSQL parses the CSV), and the lines are checked, typed and merged by `recon_store.merge`
in one set-based statement. Python holds one chunk at a time, whatever the size
of the file, and a file with one bad line imports nothing (one transaction).

A format names its columns (any order, a UTF-8 byte-order mark is allowed), the conditions
each line must meet (SQL over the text columns, with the message finance reads), and the
SELECT that turns a raw line into STAGE_COLUMNS.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.text import NUL_MESSAGE
from payments import recon_store
from payments.recon_csv import FilePosition, bad_line, copy_refused
from payments.recon_models import ReconImport
from payments.recon_store import BadImportFile, Sessions

CHUNK = 1 << 20

# Shared line checks: SQL over the raw text, `{c}` the column. PostgreSQL's regular
# expressions cost about a microsecond a line (a counted repetition like {1,64} twenty), so
# the happy path runs only a format's `quick` conditions and lets the casts of its SELECT
# refuse the rest; these precise checks run when either fails, to name the line and column.
AMOUNT = (
    "{c} ~ '^[0-9]+(\\.[0-9][0-9]?)?$' AND length({c}) <= 13",
    "a number of major units, e.g. 128.00",
)
CURRENCY = ("{c} ~ '^[A-Z][A-Z][A-Z]$'", "a three-letter ISO 4217 code, e.g. CNY")
IDENT = (
    "{c} !~ '[^A-Za-z0-9_.:-]' AND length({c}) BETWEEN 1 AND 64",
    "1-64 letters, digits or _ . : -",
)


@dataclass(frozen=True)
class FileFormat:
    source: str
    columns: tuple[str, ...]
    checks: tuple[tuple[str, tuple[str, str]], ...]  # (column, (SQL with {c}, message))
    # FROM recon_raw r, once and with no WHERE of its own (the import adds `quick` there);
    # may use :tz, the business time zone
    select: str
    quick: str = "true"  # cheap conditions the SELECT's casts do not cover (r.<column>)
    # cheap conditions on the typed line (s.<STAGE_COLUMNS>): what a cast read that the
    # format refuses (recon_dates: a year BC)
    typed: str = "true"


def minor_units(column: str) -> str:
    """SQL: a validated major-unit text amount as integer minor units (two decimals). The
    cast to bigint rounds half away from zero as round() does (and with at most two decimals
    there is nothing to round); round() first cost a third more (0.14 s a million lines)."""
    return f"(r.{column}::numeric * 100)::bigint"


_REFUSED = "refused line"
_NAME_BREAK = "a column name holds a line break"


def checked_select(fmt: FileFormat) -> str:
    """The format's SELECT, refusing every line that fails its `quick` conditions.

    The conditions are the typing statement's own WHERE rather than a scan of their own
    (a second pass over a million lines, 0.3-0.4 s of CPU measured): a failing line (or one
    with an empty column, NULL) is cast to an integer, which fails with SQLSTATE 22P02 like
    any cast of the SELECT that refuses a line, and the import then names the first bad line
    (`_refuse_first_bad_line`). The text cast is not a constant, so it is only evaluated for
    a failing line."""
    anchor = "FROM recon_raw r"
    if fmt.select.count(anchor) != 1:
        raise ValueError(f"a file format's select reads `{anchor}` exactly once")
    guard = (
        f"(CASE WHEN coalesce({fmt.quick}, false) THEN 0"
        f" ELSE ('{_REFUSED} ' || r.ctid)::int END) = 0"
    )
    select = fmt.select.replace(anchor, f"{anchor} WHERE {guard}")
    if fmt.typed == "true":
        return select
    # Both formats number their lines with row_number(), so PostgreSQL keeps their SELECT a
    # subquery below this filter: s.at is the cast computed once, compared here.
    typed = (
        f"(CASE WHEN coalesce({fmt.typed}, false) THEN 0"
        f" ELSE ('{_REFUSED} ' || s.line_id)::int END) = 0"
    )
    return f"SELECT s.* FROM ({select}) s WHERE {typed}"  # noqa: S608 - the format's constants


async def _body(stream: AsyncIterable[bytes]) -> tuple[bytes, list[str], AsyncIterator[bytes]]:
    """The header line (with its line break), its column names, and the rest of the bytes."""
    it = aiter(stream)
    head = b""
    async for chunk in it:
        head += chunk
        if b"\n" in head or len(head) > CHUNK:
            break
    line, lf, rest = head.partition(b"\n")
    if b"\x00" in line:  # Python's csv would take it into a column name, stored with the error
        raise bad_line(1, "header", NUL_MESSAGE)
    names = _header_names(line, bool(lf))

    async def tail() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in it:
            yield chunk

    return line + lf, names, tail()


def _header_names(line: bytes, ended: bool) -> list[str]:
    """The column names of the header line (its bytes before the first line feed, `ended`
    when one followed)."""
    try:
        header = line.decode("utf-8-sig").removesuffix("\r")
    except UnicodeDecodeError:
        raise BadImportFile("line 1: the header is not a UTF-8 CSV line") from None
    if ended and header.count('"') % 2:  # a quoted name goes on past the line feed
        raise bad_line(1, "header", _NAME_BREAK)
    try:
        names = next(csv.reader([header], strict=True))
    except (csv.Error, StopIteration):
        if "\r" in header:
            # A carriage return alone (classic Mac OS) ends the line: COPY would take the
            # line ending of its first line and refuse any other after it, and the lines we
            # name are counted by line feeds, so refuse it here, by name.
            raise bad_line(1, None, "line endings must be LF or CRLF, not CR alone") from None
        raise BadImportFile("line 1: the header is not a UTF-8 CSV line") from None
    if any("\r" in n or "\n" in n for n in names):
        raise bad_line(1, "header", _NAME_BREAK)
    return [n.strip() for n in names]


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
    conds = [
        (col, "coalesce(" + cond.replace("{c}", f"r.{col}") + ", false)", msg)
        for col, (cond, msg) in fmt.checks
    ]
    said = {col: f"{col}: must be {msg}".replace("'", "''") for col, _, msg in conds}
    whens = " ".join(f"WHEN NOT {c} THEN '{said[col]}'" for col, c, _ in conds)
    every = " AND ".join(c for _, c, _ in conds)
    sql = (
        f"SELECT n, said FROM (SELECT row_number() OVER (ORDER BY r.ctid) AS n,"  # noqa: S608
        f" CASE {whens} END AS said, NOT ({every}) AS bad FROM recon_raw r) x"
    )
    return sql + " WHERE bad ORDER BY n LIMIT 1"  # the format's own constants, nothing from outside


def _data_exception(exc: DBAPIError) -> bool:
    """SQLSTATE class 22: a value the casts refused (not a fault of ours or the server's)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    return str(code).startswith("22")


async def _refuse_first_bad_line(
    session: AsyncSession, fmt: FileFormat, cause: DBAPIError
) -> NoReturn:
    bad = (await session.execute(text(_first_bad_line_sql(fmt)))).first()
    if bad is not None:
        raise BadImportFile(
            f"line {int(bad[0]) + 1}: {bad[1]}",
            errors=[{"field": str(bad[1]).split(":")[0], "message": str(bad[1])}],
        )
    reason = str(cause.orig)
    if _REFUSED in reason:  # the `quick` guard (checked_select), not a cast: no detail to give
        reason = "a line does not follow the format"
    raise BadImportFile(f"the file does not follow its format: {reason}"[:400])


async def import_file(
    sessions: Sessions,
    fmt: FileFormat,
    stream: AsyncIterable[bytes],
    *,
    name: str,
    actor: str,
    tz: str,
    now: datetime,
    progress: Callable[[str], None] | None = None,
) -> ReconImport:
    """Import one file as one recorded run; a bad file imports nothing (BadImportFile)."""
    say = progress or (lambda _: None)
    async with sessions() as session:  # 409 on SQLite before anything of the file is read
        recon_store.require_postgres(session)
    header, names, rest = await _body(stream)
    _check_header(fmt, names)
    digest = hashlib.sha256()
    position = FilePosition(names)

    async def hashed() -> AsyncIterator[bytes]:
        # COPY reads the header too (and skips it): its line ending is then the one COPY
        # holds every later line to, so a CR alone after a LF header is refused by line.
        yield header
        async for chunk in rest:
            position.feed(chunk)  # BadImportFile: COPY stops, the transaction rolls back
            digest.update(chunk)
            yield chunk

    import_id = await recon_store.start_import(
        sessions, source=fmt.source, kind="file", params=name, actor=actor, now=now
    )
    try:
        async with sessions() as session, session.begin():
            cols = ", ".join(f'{c} text COLLATE "C"' for c in fmt.columns)  # PostgreSQL only
            # No line-number column: a sequence's nextval per line was a quarter of COPY's
            # CPU. COPY appends to this new, never-updated table page by page, so the
            # physical order (ctid) is the file's order: duplicates are numbered and a bad
            # line is named by it.
            await session.execute(text(f"CREATE TEMP TABLE recon_raw ({cols}) ON COMMIT DROP"))
            conn = await recon_store.driver(session)
            try:
                copied = await conn.copy_to_table(
                    "recon_raw",
                    source=hashed(),
                    columns=names,
                    format="csv",
                    header=True,
                    encoding="utf-8",
                )
            except asyncpg.PostgresError as exc:  # not CSV, not UTF-8, a column short or extra
                raise copy_refused(exc, position) from None
            read = int(str(copied).split()[-1])  # COPY's status: "COPY <lines>"
            say("copied")
            await recon_store.bulk_settings(session)
            try:
                async with session.begin_nested():
                    new, changed = await recon_store.merge(
                        session, fmt.source, import_id, checked_select(fmt), {"tz": tz}
                    )
            except DBAPIError as exc:
                if not _data_exception(exc):
                    raise
                await _refuse_first_bad_line(session, fmt, exc)  # a cast refused a line
            say("merged")
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
