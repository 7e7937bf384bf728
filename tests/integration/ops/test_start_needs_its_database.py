"""`hotline serve` and `hotline worker` refuse, in one line and with exit code 2, a database
that is not there or not migrated to this release: they used to start, answer /ready 200 and
500 to every request, and log a traceback (with the outbox's SQL) ten times a second. Run as
real processes, as an operator runs them; the password never reaches the message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import uvicorn
from alembic.script import ScriptDirectory
from click.testing import CliRunner

from api.cli import main
from api.migrate import alembic_config, upgrade
from tests.conftest import REDIS_URL, create_database, drop_database
from tests.integration.operations.servers import free_port

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "n0t-for-the-log"  # trust auth ignores it; the message must not show it
COMMANDS = {"serve": ["serve"], "worker": ["worker", "--processes", "1"]}


def _with_password(url: str, port: int | None = None) -> str:
    rest = url.split("postgres@", 1)[1]
    if port is not None:
        rest = f"127.0.0.1:{port}/" + rest.split("/", 1)[1]
    return url.split("postgres@", 1)[0] + f"postgres:{PASSWORD}@" + rest


@dataclass(frozen=True)
class Databases:
    unmigrated: str
    behind: str  # migrated to the revision before this release's head
    migrated: str
    missing: str
    closed: str  # nothing listens on its port


@pytest.fixture(scope="module")
def databases() -> Iterator[Databases]:
    made = [create_database("hotline_start") for _ in range(3)]
    (_, unmigrated), (_, behind), (_, migrated) = made
    script = ScriptDirectory.from_config(alembic_config(behind))
    previous = script.get_revision(script.get_current_head()).down_revision
    assert isinstance(previous, str)
    upgrade(behind, previous)
    upgrade(migrated)
    missing = unmigrated.rsplit("/", 1)[0] + f"/hotline_nowhere_{uuid.uuid4().hex[:8]}"
    try:
        yield Databases(
            *(_with_password(u) for u in (unmigrated, behind, migrated, missing)),
            closed=_with_password(missing, port=free_port()),
        )
    finally:
        for name, _ in made:
            drop_database(name)


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(
        HOTLINE_ENV="test",
        HOTLINE_DATABASE_URL=database_url,
        HOTLINE_REDIS_URL=REDIS_URL,
        HOTLINE_REDIS_PREFIX=f"t{uuid.uuid4().hex[:8]}",
        HOTLINE_WORKER="dramatiq",
        HOTLINE_PORT=str(free_port()),
    )
    return env


def _run_all(cases: dict[str, tuple[list[str], str]]) -> dict[str, tuple[int | None, str]]:
    """Start every case at once (each start-up imports the whole app: seconds), then collect
    (exit code, output); a process still running after a minute is killed (code None)."""
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "api", *command],
            cwd=ROOT,
            env=_env(url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # `hotline worker`'s children go with it when killed
        )
        for name, (command, url) in cases.items()
    }
    results: dict[str, tuple[int | None, str]] = {}
    deadline = time.monotonic() + 60
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results[name] = (proc.returncode, out.decode())
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            results[name] = (None, out.decode()[-3000:])
    return results


def test_serve_and_worker_refuse_a_database_they_cannot_use(databases: Databases) -> None:
    expected = {
        "unmigrated": (databases.unmigrated, "has no Hotline tables yet: run `hotline migrate`"),
        "behind": (databases.behind, "but this release needs"),
        "missing": (databases.missing, "does not exist"),
        "closed": (databases.closed, "cannot reach the database"),
    }
    cases = {
        f"{command} {state}": (argv, url)
        for command, argv in COMMANDS.items()
        for state, (url, _) in expected.items()
    }
    wrong = []
    for name, (code, output) in _run_all(cases).items():
        says = expected[name.split()[1]][1]
        lines = [line for line in output.splitlines() if line.strip()]
        if (
            code != 2
            or len(lines) != 1
            or not lines[0].startswith("refusing to start:")
            or says not in output
            or PASSWORD in output
        ):
            wrong.append(f"{name}: exit {code}, {len(lines)} lines:\n{output[-1500:]}")
        elif ("missing" in name or "closed" in name) and not (
            "hotline_nowhere_" in output and "127.0.0.1:" in output  # which host and database
        ):
            wrong.append(f"{name}: host or database not named: {output}")
    assert not wrong, "\n\n".join(wrong)


def test_a_migrated_database_starts_and_a_newer_one_only_warns(
    databases: Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a rolling deploy needs: the release migrated first starts; an older release
    restarting against the newer schema is told so and starts too."""
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    for key in [k for k in os.environ if k.startswith("HOTLINE_")]:
        monkeypatch.delenv(key)
    result = CliRunner().invoke(main, ["serve"], env=_env(databases.migrated))
    assert result.exit_code == 0 and served, result.output
    assert result.output == ""

    with psycopg.connect(_plain(databases.migrated), autocommit=True) as conn:
        (head,) = conn.execute("SELECT version_num FROM alembic_version").fetchone() or ("",)
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        try:
            result = CliRunner().invoke(main, ["serve"], env=_env(databases.migrated))
        finally:
            conn.execute("UPDATE alembic_version SET version_num = %s", (head,))
    assert result.exit_code == 0 and len(served) == 2, result.output
    assert f"9999_from_the_future, newer than this release's {head}" in result.output
    assert PASSWORD not in result.output


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--processes", "0"],
        ["worker", "--processes", "-1"],
        ["worker", "--threads", "0"],
        ["worker", "--threads", "-2"],
        ["serve", "--workers", "0"],
    ],
)
def test_a_count_below_one_is_a_usage_error(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("started with nothing to run")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setattr(subprocess, "Popen", never)
    for module in ("api.cli", "api.cli_fulfillment"):  # a usage error needs no database
        monkeypatch.setattr(f"{module}.preflight", never)
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--" in result.output and "x>=1" in result.output
