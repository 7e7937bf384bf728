"""`hotline finance import` and `hotline finance reconcile`: the sample files of the README
import as documented (and again, changing nothing); a day's run prints its summary."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from api import cli_group
from core.settings import Settings

SAMPLES = Path(__file__).resolve().parents[3] / "docs" / "samples"


def _env(settings: Settings) -> dict[str, str]:
    return {
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": settings.database_url,
        "HOTLINE_REDIS_URL": settings.redis_url,
        "HOTLINE_SECRET_KEY": settings.secret_key,
    }


def test_sample_files_import_and_a_day_reconciles(settings: Settings) -> None:
    import api.cli_finance  # noqa: F401  (registers the commands)

    runner, env = CliRunner(), _env(settings)
    for source, name, lines in [
        ("carrier", "carrier_settlement.csv", 4),
        ("partner", "partner_invoice.csv", 4),
    ]:
        path = str(SAMPLES / name)
        first = runner.invoke(
            cli_group.main, ["finance", "import", "--source", source, path], env=env
        )
        assert first.exit_code == 0, first.output
        assert f"{lines} lines read" in first.output
        again = runner.invoke(
            cli_group.main, ["finance", "import", "--source", source, path], env=env
        )
        assert f"{lines} lines read, 0 new, 0 changed" in again.output, again.output
    run = runner.invoke(
        cli_group.main,
        ["finance", "reconcile", "--source", "carrier", "--date", "2026-12-01"],
        env=env,
    )
    assert run.exit_code == 0, run.output
    # None of the sample's charge ids are in this database's books; the failed line moved no
    # money on either side, so it is no difference.
    assert re.search(r"missing_in_books\s+3\s+128\.00 CNY", run.output), run.output
    assert "items.csv" in run.output
    bad = runner.invoke(
        cli_group.main, ["finance", "reconcile", "--source", "carrier", "--date", "12/01"], env=env
    )
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
