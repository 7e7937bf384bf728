"""`hotline create-offer` against a scratch database, and the demo catalog seed run twice."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import api.admin_cli  # noqa: F401 - registers the commands
from api.cli import main
from api.migrate import upgrade
from api.seeds.commerce import CATALOG, seed_demo
from commerce import Offer
from core.runtime import Runtime
from core.settings import load_settings


@pytest.fixture
def scratch(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A migrated SQLite file of its own and the environment the CLI reads it from."""
    path = tmp_path / "hotline.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    env = {"HOTLINE_ENV": "test", "HOTLINE_DATABASE_URL": url, "HOTLINE_REDIS_URL": ""}
    return str(path), env


def _offers(path: str) -> list[tuple[str, str, int, str, int, int]]:
    with sqlite3.connect(path) as db:
        return list(
            db.execute(
                "SELECT code, kind, price_amount, currency, capacity, available FROM offers"
                " ORDER BY code"
            )
        )


def _create(env: dict[str, str], *extra: str) -> object:
    args = ["create-offer", "--kind", "train", "--title", "G1 北京南 → 上海虹桥 二等座",
            "--venue", "北京南 -> 上海虹桥", "--starts-at", "2031-05-01T07:00+08:00",
            "--capacity", "300", *extra]  # fmt: skip
    return CliRunner().invoke(main, args, env=env)


def test_create_offer_stores_exact_minor_units_in_the_configured_currency(
    scratch: tuple[str, dict[str, str]],
) -> None:
    path, env = scratch
    result = _create(env, "--price", "662.50", "--code", "g1")
    assert result.exit_code == 0, result.output
    assert "offer G1 created" in result.output and "capacity=300" in result.output
    assert _offers(path) == [("G1", "train", 66250, "CNY", 300, 300)]
    again = _create(env, "--price", "662.50", "--code", "G1")
    assert again.exit_code == 1 and "refused" in again.output and "G1" in again.output
    assert len(_offers(path)) == 1


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--price", "662.505"], "at most 2 decimals"),
        (["--price", "-1"], "non-negative"),
        (["--price", "abc"], "not an amount"),
        (["--price", "10", "--starts-at", "next tuesday"], "ISO 8601"),
    ],
)
def test_create_offer_refuses_bad_input_and_writes_nothing(
    scratch: tuple[str, dict[str, str]], extra: list[str], complaint: str
) -> None:
    path, env = scratch
    result = _create(env, *extra)
    assert result.exit_code == 2 and complaint in result.output, result.output
    assert _offers(path) == []


def test_create_offer_refuses_a_domain_rule_with_exit_1(
    scratch: tuple[str, dict[str, str]],
) -> None:
    path, env = scratch
    result = _create(env, "--price", "10", "--starts-at", "2001-01-01T00:00+00:00")
    assert result.exit_code == 1 and "refused" in result.output
    assert _offers(path) == []


async def test_the_demo_catalog_seed_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)  # it runs its own event loop
    runtime = Runtime.build(load_settings(environ={}, env="demo", database_url=url))
    try:
        first = await seed_demo(runtime)
        async with runtime.sessions() as session:
            before = [(o.id, o.code, o.available) for o in await session.scalars(select(Offer))]
        second = await seed_demo(runtime)
        async with runtime.sessions() as session:
            after = [(o.id, o.code, o.available) for o in await session.scalars(select(Offer))]
    finally:
        await runtime.close()
    assert f"({len(CATALOG)} new)" in first[0] and "(0 new)" in second[0]
    assert sorted(after) == sorted(before)
    assert sorted(code for _, code, _ in after) == sorted(c[0] for c in CATALOG)
