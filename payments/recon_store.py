"""Counterparty lines into PostgreSQL, set-based: rows are COPYed into a temporary staging
table and merged into `recon_lines` with one upsert, so a day of a million lines never sits
in Python lists and a re-import of the same facts changes nothing (the stored facts decide).

Each import is a recorded run (`recon_imports`): started, counted, finished or failed.
SQLite (the `make run` demo) has no COPY: reconciliation refuses there with `NeedsPostgres`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres
from core.errors import DomainError
from payments.recon_models import ReconImport

Sessions = async_sessionmaker[AsyncSession]
# A day's grouping, sorting and joining stay in memory in PostgreSQL (per transaction; the
# server default of 4MB spills a million lines to disk several times over).
WORK_MEM = "256MB"
# An import that writes at least this many lines refreshes recon_lines' statistics (merge).
ANALYZE_AFTER = 10_000
_PLANNED = ("source", "kind", "at", "match_key", "payout_id")


async def bulk_settings(session: AsyncSession) -> None:
    """Settings for a transaction that reads or writes a whole day (imports and runs).

    JIT is off: the planner cannot estimate a grouped FULL OUTER JOIN of a UNION ALL (it
    guessed 49 million rows for a million), so its costs pass the JIT thresholds and LLVM
    inlines and optimises ~50 functions per query: measured, seconds more than it saves."""
    await session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    await session.execute(text("SET LOCAL jit = off"))


# What every source's parser hands over, in this order (amounts signed, minor units).
STAGE_COLUMNS = (
    "line_id",
    "match_key",
    "kind",
    "amount",
    "fee",
    "net",
    "currency",
    "status",
    "at",
    "settled_on",
    "payout_id",
    "ref",
    "category",
    "charge_id",
    "payment_intent",
    "our_ref",
)
_STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS recon_stage (
    line_id varchar(120), match_key varchar(120), kind varchar(24), amount bigint,
    fee bigint, net bigint, currency varchar(3), status varchar(16), at timestamptz,
    settled_on date, payout_id varchar(64), ref varchar(120), category varchar(40),
    charge_id varchar(64), payment_intent varchar(64), our_ref varchar(64)
) ON COMMIT DROP
"""
# The facts a difference depends on; the payout a line belongs to is kept apart, because a
# range import does not know it and must not erase what a payout import learnt.
_FACTS = (
    "match_key, kind, amount, fee, net, currency, status, at, settled_on, ref, category, "
    "charge_id, payment_intent, our_ref"
)
_COLUMNS = [c.strip() for c in _FACTS.split(",")]
_INSERT = f"""
INSERT INTO recon_lines (source, line_id, {_FACTS}, payout_id, import_id)
SELECT :source, s.line_id, {", ".join("s." + c for c in _COLUMNS)}, s.payout_id, :import_id
FROM ({{select}}) s
"""  # noqa: S608 - built from constants; every value is bound
STAGE_SELECT = "SELECT s.* FROM recon_stage s"
# A line already stored is rewritten only when its facts differ, compared as they are (an md5
# of them per line was a tenth of a day's import: migration 0016), or when a payout import
# learns which payout it belongs to.
_MERGE = f"""
WITH up AS (
    INSERT INTO recon_lines (source, line_id, {_FACTS}, payout_id, import_id)
    SELECT :source, s.line_id, {", ".join("s." + c for c in _COLUMNS)}, s.payout_id,
           :import_id
    FROM ({{select}}) s
    ON CONFLICT (source, line_id) DO UPDATE SET
        {", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS)},
        payout_id = COALESCE(EXCLUDED.payout_id, recon_lines.payout_id),
        import_id = EXCLUDED.import_id
    WHERE ({", ".join("recon_lines." + c for c in _COLUMNS)})
          IS DISTINCT FROM ({", ".join("EXCLUDED." + c for c in _COLUMNS)})
       OR (EXCLUDED.payout_id IS NOT NULL
           AND recon_lines.payout_id IS DISTINCT FROM EXCLUDED.payout_id)
    RETURNING (xmax = 0) AS fresh
)
SELECT count(*) FILTER (WHERE fresh), count(*) FILTER (WHERE NOT fresh) FROM up
"""  # noqa: S608 - built from constants; every value is bound


class NeedsPostgres(DomainError):
    """Reconciliation imports and matches in PostgreSQL (COPY and set-based SQL); the SQLite
    demo database cannot run it. Point HOTLINE_DATABASE_URL at PostgreSQL."""

    status, slug, title = 409, "needs-postgresql", "Needs PostgreSQL"


class BadImportFile(DomainError):
    """A settlement or invoice file does not follow its documented columns (README); nothing
    of it was imported. The detail names the line and the column."""

    status, slug, title = 422, "bad-import-file", "Import file not valid"


def require_postgres(session: AsyncSession) -> None:
    if not is_postgres(session):
        raise NeedsPostgres(
            "reconciliation needs PostgreSQL (COPY and set-based matching); this database is SQLite"
        )


async def driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session's transaction (COPY is not in SQLAlchemy)."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def start_import(
    sessions: Sessions,
    *,
    source: str,
    kind: str,
    params: str,
    actor: str,
    now: datetime,
    sha256: str | None = None,
) -> str:
    async with sessions() as session, session.begin():
        require_postgres(session)
        run = ReconImport(
            source=source,
            kind=kind,
            params=params[:300],
            sha256=sha256,
            actor=actor,
            status="running",
            rows_read=0,
            rows_new=0,
            rows_changed=0,
            started_at=now,
        )
        session.add(run)
        await session.flush()
        return run.id


async def finish_import(
    sessions: Sessions,
    import_id: str,
    *,
    counts: Sequence[int],
    now: datetime,
    error: str | None = None,
) -> ReconImport:
    read, new, changed = counts
    async with sessions() as session, session.begin():
        await session.execute(
            update(ReconImport)
            .where(ReconImport.id == import_id)
            .values(
                status="failed" if error else "done",
                rows_read=read,
                rows_new=new,
                rows_changed=changed,
                error=error[:500] if error else None,
                finished_at=now,
            )
        )
        found = await session.get(ReconImport, import_id)
        assert found is not None
        return found


async def stage_records(
    session: AsyncSession, records: Iterable[tuple[Any, ...]] | AsyncIterable[tuple[Any, ...]]
) -> None:
    """COPY parsed lines (STAGE_COLUMNS order) into this transaction's staging table."""
    await session.execute(text(_STAGE_DDL))
    await (await driver(session)).copy_records_to_table(
        "recon_stage", records=records, columns=list(STAGE_COLUMNS)
    )


async def merge(
    session: AsyncSession,
    source: str,
    import_id: str,
    select: str = STAGE_SELECT,
    params: dict[str, Any] | None = None,
) -> tuple[int, int]:
    """Upsert the staged lines (or any SELECT of STAGE_COLUMNS); (new, changed).

    A new day's lines are all new: a plain INSERT (in a savepoint) writes them without the
    upsert's speculative insertion, about a quarter less work and WAL. When any line exists
    already (a re-import) it fails on the key and the upsert runs instead."""
    values = {"source": source, "import_id": import_id, **(params or {})}
    try:
        async with session.begin_nested():
            result = await session.execute(text(_INSERT.replace("{select}", select)), values)
            counts = int(getattr(result, "rowcount", 0)), 0
    except IntegrityError as exc:
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if str(code) != "23505":  # not a line we have already: not ours to handle
            raise
        row = (await session.execute(text(_MERGE.replace("{select}", select)), values)).one()
        counts = int(row[0]), int(row[1])
    if sum(counts) >= ANALYZE_AFTER:
        # The run that follows a day's import is planned on these statistics; autovacuum
        # would refresh them a minute later. Without them the planner guessed 4 lines for a
        # million, sorted them through an index and spilled the join (a run about 1.3 s
        # slower at a million lines; ANALYZE samples 30,000 rows). Only the columns a run
        # or a merge filters, groups or joins on: all 18 cost twice the CPU (0.23 s against
        # 0.1 s at a million lines); autovacuum refreshes the rest later.
        await session.execute(text(f"ANALYZE recon_lines ({', '.join(_PLANNED)})"))
    return counts
