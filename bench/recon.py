"""Reconciliation at a day's scale: N carrier-billing payments in our books and an operator
settlement file of about N lines (every category present), imported and reconciled on
PostgreSQL, timed next to a DuckDB FULL OUTER JOIN of the same data read from CSV files, in
the same run on the same machine.

    uv run --group bench python bench/recon.py --records 1000000

- setup (not timed): a scratch database (migrated), our N payments COPYed into `payments`,
  `ours.csv` (the same books, for DuckDB) and `settlement.csv` written to a temp directory.
- PostgreSQL (timed): `payments.import_file` (the file's bytes streamed to COPY, checked
  set-based, merged into `recon_lines`) then `payments.recon.reconcile` (grouped FULL OUTER
  JOIN, differences stored, summary). Peak RSS is this Python process's (ru_maxrss) after it.
- DuckDB (timed, in a child process so its memory is not ours): both CSV files read, grouped
  and FULL OUTER JOINed into the same categories.

Prints figures and the ratio of wall times, and of CPU times (our PostgreSQL backends from
/proc plus this process, against DuckDB's process): on a shared machine wall time moves with
the neighbours' load, CPU time much less. Never asserts on time. DuckDB is the `bench`
dependency group only (`uv run --group bench`); `make install` and CI do not install it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

import payments
from api.migrate import upgrade
from core.runtime import Runtime
from payments import recon_store
from tests.conftest import create_database, drop_database, make_test_settings

DAY_START = datetime(2030, 1, 1, 16, 0, tzinfo=UTC)  # 2030-01-02 00:00 in Asia/Shanghai
PAYMENT_COLUMNS = (
    "id",
    "order_id",
    "order_number",
    "customer_id",
    "method",
    "status",
    "amount",
    "currency",
    "subtotal",
    "booking_fee",
    "delivery_fee",
    "refunded_amount",
    "disputed_amount",
    "request_key",
    "actor",
    "created_at",
    "updated_at",
    "channel",
)


def backend_cpu(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of these PostgreSQL backends, read from /proc: the server
    runs on this machine. On a shared machine wall time moves with the neighbours' load;
    CPU time is the work each side did. Empty when /proc does not show them."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / tick
    return out


async def client_backends(rt: Runtime) -> list[int]:
    async with rt.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend'"
            )
        )
        return [int(r[0]) for r in rows]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def payment_id(i: int) -> str:
    """Payment i's id, shaped as ours are (core.db.new_id: 32 random-looking hex digits).
    A multiplication by an odd constant modulo 2**128 is one-to-one, so ids stay distinct
    and the files stay the same from run to run. Counting ids (`f"{i:032x}"`) would share
    their first 24 digits, which no real day does, and would defeat PostgreSQL's abbreviated
    sort keys (every comparison a full one) where a hash join does not care."""
    return f"{(i * 0x9E3779B97F4A7C15F39CC0605CEDC835) % 2**128:032x}"


def ours(n: int) -> Any:
    """Our books: payment i, 10.00 to 99.99 CNY, spread over the business day."""
    step = 86_400 / n
    for i in range(n):
        at = DAY_START + timedelta(seconds=i * step)
        yield payment_id(i), 1000 + (i * 37) % 9000, at


def settlement_line(i: int, amount: int, at: datetime) -> list[list[str]]:
    """The operator's lines for payment i; one case in a hundred differs."""
    case = i % 100
    cur, status, lines = "CNY", "charged", 1
    if case == 1:
        amount += 1  # amount_mismatch
    elif case == 2:
        return []  # missing_at_counterparty
    elif case == 3:
        lines = 2  # duplicate
    elif case == 4:
        status = "failed"  # status_mismatch
    elif case == 5:
        cur = "USD"  # currency_mismatch
    row = [
        "+8613800138000",
        payment_id(i),
        f"{amount // 100}.{amount % 100:02d}",
        cur,
        at.isoformat(),
        status,
        "2030-01-03",
    ]
    out = [row] * lines
    if case == 6:  # a charge our books never saw: missing_in_books
        out.append(
            [
                "+8613800138000",
                payment_id(i + 2**64),  # no i below 2**64 has this id
                "12.00",
                "CNY",
                at.isoformat(),
                "charged",
                "2030-01-03",
            ]
        )
    return out


def write_files(n: int, folder: Path) -> tuple[Path, Path]:
    ours_csv, theirs_csv = folder / "ours.csv", folder / "settlement.csv"
    with ours_csv.open("w", newline="") as o, theirs_csv.open("w", newline="") as t:
        ow, tw = csv.writer(o), csv.writer(t)
        ow.writerow(["id", "amount", "currency", "status", "created_at"])
        tw.writerow(payments.CARRIER_FILE.columns)
        for i, (pid, amount, at) in enumerate(ours(n)):
            ow.writerow([pid, amount, "CNY", "succeeded", at.isoformat()])
            tw.writerows(settlement_line(i, amount, at))
    return ours_csv, theirs_csv


async def load_books(rt: Runtime, n: int) -> None:
    def rows() -> Any:
        for pid, amount, at in ours(n):
            yield (
                pid,
                pid,
                pid[-8:],
                pid,
                "carrier_billing",
                "succeeded",
                amount,
                "CNY",
                amount,
                0,
                0,
                0,
                0,
                f"bench:{pid}",
                "system:bench",
                at,
                at,
                "phone",
            )

    async with rt.sessions() as s, s.begin():
        conn = await recon_store.driver(s)
        await conn.copy_records_to_table("payments", records=rows(), columns=PAYMENT_COLUMNS)
    async with rt.sessions() as s, s.begin():
        await s.execute(text("ANALYZE payments"))


async def postgres(rt: Runtime, theirs_csv: Path) -> dict[str, Any]:
    now = DAY_START + timedelta(days=30)
    cpu0, py0 = backend_cpu(await client_backends(rt)), time.process_time()
    t0 = time.perf_counter()
    imp = await payments.import_file(
        rt.sessions,
        payments.CARRIER_FILE,
        payments.file_chunks(str(theirs_csv)),
        name=str(theirs_csv),
        actor="system:bench",
        tz="Asia/Shanghai",
        now=now,
        progress=lambda stage: print(f"  import {stage}: {time.perf_counter() - t0:.2f} s"),
    )
    t1 = time.perf_counter()
    cpu_mid, py_mid = backend_cpu(await client_backends(rt)), time.process_time()
    run = await payments.recon.reconcile(
        rt.sessions,
        payments.CARRIER,
        start=DAY_START,
        end=DAY_START + timedelta(days=1),
        window=timedelta(hours=48),
        actor="system:bench",
        now=now,
        progress=lambda stage: print(f"  reconcile {stage}: {time.perf_counter() - t1:.2f} s"),
    )
    t2 = time.perf_counter()
    py = time.process_time() - py0
    cpu1 = backend_cpu(await client_backends(rt))
    server = sum(c - cpu0.get(pid, 0.0) for pid, c in cpu1.items()) if cpu1 else None
    run_cpu = sum(c - cpu_mid.get(pid, 0.0) for pid, c in cpu1.items()) if cpu1 else None
    summary = {k: v["count"] for k, v in payments.recon.summary_of(run).items()}
    return {
        "server_cpu_s": server,
        "python_cpu_s": py,
        # the import's and the run's shares of that CPU (the run's: backends and Python)
        "run_cpu_s": None if run_cpu is None else run_cpu + time.process_time() - py_mid,
        "import_s": t1 - t0,
        "reconcile_s": t2 - t1,
        "total_s": t2 - t0,
        "lines": imp.rows_read,
        "summary": summary,
    }


DUCKDB = """
import duckdb, json, sys, time
ours, theirs = sys.argv[1], sys.argv[2]
duckdb.sql("SET enable_progress_bar = false")
t0, c0 = time.perf_counter(), time.process_time()
rows = duckdb.sql(f'''
WITH o AS (
  SELECT id AS k, count(*) n, sum(amount) amount, min(currency) cur, max(currency) cur_max,
         min(CASE WHEN status = 'succeeded' THEN 'ok' ELSE status END) st, min(created_at) first_at
  FROM read_csv('{ours}', header=true, columns={{'id': 'VARCHAR', 'amount': 'BIGINT',
       'currency': 'VARCHAR', 'status': 'VARCHAR', 'created_at': 'TIMESTAMPTZ'}})
  GROUP BY id
), t AS (
  SELECT charge_id AS k, count(*) n,
         sum(CASE WHEN status = 'refunded' THEN -1 ELSE 1 END
             * CAST(round(CAST(amount AS DECIMAL(18,2)) * 100) AS BIGINT)) amount,
         min(currency) cur, max(currency) cur_max,
         min(CASE WHEN status IN ('charged', 'refunded') THEN 'ok' ELSE status END) st,
         max(CASE WHEN status IN ('charged', 'refunded') THEN 'ok' ELSE status END) st_max,
         min(amount) amin, max(amount) amax
  FROM read_csv('{theirs}', header=true, all_varchar=true) GROUP BY charge_id
)
SELECT category, count(*) FROM (
  SELECT CASE
    WHEN t.n IS NULL THEN 'missing_at_counterparty'
    WHEN o.n IS NULL THEN 'missing_in_books'
    WHEN o.st <> t.st OR t.st <> t.st_max THEN 'status_mismatch'
    WHEN o.cur <> t.cur OR t.cur <> t.cur_max THEN 'currency_mismatch'
    WHEN o.amount = t.amount THEN 'matched'
    WHEN t.n > 1 AND t.amin = t.amax THEN 'duplicate'
    ELSE 'amount_mismatch' END AS category
  FROM o FULL OUTER JOIN t ON o.k = t.k
) GROUP BY 1 ORDER BY 1
''').fetchall()
print(json.dumps({"total_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
                  "summary": dict(rows)}))
"""


def duckdb(ours_csv: Path, theirs_csv: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", DUCKDB, str(ours_csv), str(theirs_csv)],
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"duckdb failed (uv run --group bench ...?):\n{out.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def main(n: int, url: str) -> None:
    rt = Runtime.build(make_test_settings(url))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ours_csv, theirs_csv = write_files(n, Path(tmp))
        await load_books(rt, n)
        setup = time.perf_counter() - t0
        size = theirs_csv.stat().st_size / 2**20
        rss_before = rss_mib()
        pg = await postgres(rt, theirs_csv)
        rss = rss_mib()
        await rt.close()
        print(f"records per side: {n:,} (settlement file {pg['lines']:,} lines, {size:.0f} MiB)")
        print(f"setup (not timed): {setup:.1f} s")
        print(
            f"PostgreSQL: import {pg['import_s']:.2f} s + reconcile {pg['reconcile_s']:.2f} s"
            f" = {pg['total_s']:.2f} s, {n / pg['total_s']:,.0f} records/s per side"
        )
        print(
            f"peak RSS of this Python process: {rss:.0f} MiB (before the timed part "
            f"{rss_before:.0f} MiB; goal < 300 MiB)"
        )
        print(f"PostgreSQL categories: {json.dumps(pg['summary'])}", flush=True)
        dk = duckdb(ours_csv, theirs_csv)
    print(f"DuckDB full outer join of the same CSV files: {dk['total_s']:.2f} s")
    print(f"ratio PostgreSQL / DuckDB: {pg['total_s'] / dk['total_s']:.1f}x (goal <= 5x)")
    if pg["server_cpu_s"] is not None:
        cpu = pg["server_cpu_s"] + pg["python_cpu_s"]
        print(
            f"CPU time: PostgreSQL backends {pg['server_cpu_s']:.2f} s + this Python process"
            f" {pg['python_cpu_s']:.2f} s = {cpu:.2f} s; DuckDB (all its threads)"
            f" {dk['cpu_s']:.2f} s; ratio {cpu / dk['cpu_s']:.1f}x"
            " (the server's WAL writer and checkpointer not counted)"
        )
        print(f"  of which import {cpu - pg['run_cpu_s']:.2f} s, reconcile {pg['run_cpu_s']:.2f} s")
    print(f"DuckDB categories:     {json.dumps(dk['summary'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    os.environ.setdefault("HOTLINE_ENV", "test")
    db, db_url = create_database("hotline_bench")
    try:
        upgrade(db_url)  # Alembic runs its own event loop
        asyncio.run(main(args.records, db_url))
    finally:
        if args.keep:
            print(f"kept database {db}")
        else:
            drop_database(db)
