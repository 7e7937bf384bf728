"""A command run before `hotline migrate` says so in one line instead of a driver traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from api.cli import main


def test_a_command_against_an_unmigrated_database_says_to_migrate(tmp_path: Path) -> None:
    env = {
        "HOTLINE_ENV": "demo",
        "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
        "HOTLINE_REDIS_URL": "",
        "HOTLINE_TWILIO_AUTH_TOKEN": "",
    }
    out = CliRunner().invoke(main, ["sms-send", "--from", "+8613800138000", "STATUS"], env=env)
    assert out.exit_code == 2
    assert "has no Hotline tables yet: run `hotline migrate`" in out.output
    assert "Traceback" not in out.output
