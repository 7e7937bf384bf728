"""Migration 0019 rewrites the status guards of the carrier charge and the card settle so only
a key can find their rows (see its docstring), and downgrading restores 0017's text exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import psycopg
from alembic import command

from api.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN, create_database, drop_database

SOURCE = "SELECT proname, prosrc FROM pg_proc WHERE proname = ANY(%s) ORDER BY proname"
NAMES = (["payments_charge_carrier", "payments_settle_card"],)
VERSIONS = Path(__file__).resolve().parents[3] / "migrations" / "versions"
M0017 = VERSIONS / "0017_charge_fast_key_in_charge.py"


def _bodies(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {name: body for name, body in conn.execute(SOURCE, NAMES).fetchall()}


def _body(create: str) -> str:
    return create.split("$fn$")[1]


def test_0019_guards_by_key_and_downgrades_to_0017s_text() -> None:
    spec = importlib.util.spec_from_file_location("_m0017_for_test", M0017)
    assert spec is not None and spec.loader is not None
    m0017 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0017)
    name, url = create_database("hotline_m19")
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, "0019")
        new = _bodies(dsn)
        assert "(status = 'succeeded') IS TRUE" in new["payments_charge_carrier"]
        assert "(status = 'succeeded') IS TRUE" in new["payments_settle_card"]
        assert "(status = 'awaiting_payment') IS TRUE" in new["payments_settle_card"]
        command.downgrade(alembic_config(url), "0018")
        old = _bodies(dsn)
        assert old["payments_charge_carrier"] == _body(m0017.FUNCTION)
        assert old["payments_settle_card"] == _body(m0017.SETTLE)
        upgrade(url, "0019")
        assert _bodies(dsn) == new
    finally:
        drop_database(name)
