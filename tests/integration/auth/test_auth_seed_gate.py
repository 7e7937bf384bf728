"""Demo seeding happens only in demo mode on the embedded SQLite file, never into PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

import api.admin_cli  # noqa: F401 - registers the commands
from api.cli import main
from api.migrate import upgrade
from api.seed import seed, seeding_refused
from auth.models import Agent
from core.runtime import Runtime
from core.settings import load_settings
from tests.auth_fixtures import fixture_sessions


async def _agents(runtime: Runtime) -> int:
    async with fixture_sessions(runtime)() as s:
        return int(await s.scalar(select(func.count()).select_from(Agent)) or 0)


async def test_demo_env_with_postgres_refuses_to_seed(pg_url: str, runtime: Runtime) -> None:
    demo_pg = load_settings(environ={}, env="demo", database_url=pg_url)
    assert seeding_refused(demo_pg)
    before = await _agents(runtime)
    env = {"HOTLINE_ENV": "demo", "HOTLINE_DATABASE_URL": pg_url}
    result = await asyncio.to_thread(CliRunner().invoke, main, ["seed-demo"], env=env)
    assert result.exit_code == 2 and "refusing to seed" in result.output
    rt = Runtime.build(demo_pg)
    try:
        with pytest.raises(RuntimeError, match="refusing to seed"):
            await seed(rt)
    finally:
        await rt.close()
    assert await _agents(runtime) == before


def test_test_env_on_sqlite_refuses_to_seed(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    assert seeding_refused(load_settings(environ={}, env="test", database_url=url))
    result = CliRunner().invoke(
        main, ["seed-demo"], env={"HOTLINE_ENV": "test", "HOTLINE_DATABASE_URL": url}
    )
    assert result.exit_code == 2 and "HOTLINE_ENV" in result.output


def test_demo_on_embedded_sqlite_seeds(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    upgrade(url)
    assert seeding_refused(load_settings(environ={}, env="demo", database_url=url)) is None
    env = {"HOTLINE_ENV": "demo", "HOTLINE_DATABASE_URL": url, "HOTLINE_REDIS_URL": ""}
    result = CliRunner().invoke(main, ["seed-demo"], env=env)
    assert result.exit_code == 0, result.output
    assert "PIN" in result.output
