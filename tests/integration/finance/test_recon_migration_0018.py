"""Migration 0018 on a database with lines: upgrading swaps recon_lines' btree on (source, at)
for a BRIN on `at` and a partial btree for the sources but the carrier, downgrading swaps them
back; the lines stay and a run's range read still finds them either way."""

from __future__ import annotations

import psycopg
from alembic import command

from api.migrate import alembic_config, upgrade
from tests.conftest import PG_ADMIN, create_database, drop_database

LINE = """
INSERT INTO recon_lines (source, line_id, match_key, kind, amount, fee, net, currency, status,
    at, import_id)
VALUES ('carrier', 'c1/charged/2031-07-02#1', 'c1', 'charge', 1200, 0, 1200, 'CNY', 'ok',
        '2031-07-01 02:00+00', 'imp')
"""
IN_RANGE = (
    "SELECT count(*) FROM recon_lines WHERE source = 'carrier'"
    " AND at >= '2031-07-01' AND at < '2031-07-02'"
)
INDEX = "SELECT indexdef FROM pg_indexes WHERE indexname = %s"


def test_0018_upgrades_and_downgrades_with_lines() -> None:
    name, url = create_database("hotline_m18")
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url, "0017")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(LINE)
        upgrade(url, "0018")
        with psycopg.connect(dsn, autocommit=True) as conn:
            assert "USING brin (at)" in str(conn.execute(INDEX, ("ix_recon_lines_at",)).fetchone())
            small = str(conn.execute(INDEX, ("ix_recon_lines_source_at",)).fetchone())
            assert "(source, at) WHERE ((source)::text <> 'carrier'::text)" in small
            assert conn.execute(IN_RANGE).fetchone() == (1,)
        command.downgrade(alembic_config(url), "0017")
        with psycopg.connect(dsn, autocommit=True) as conn:
            at = str(conn.execute(INDEX, ("ix_recon_lines_at",)).fetchone())
            assert "USING btree (source, at)" in at
            assert conn.execute(INDEX, ("ix_recon_lines_source_at",)).fetchone() is None
            assert conn.execute(IN_RANGE).fetchone() == (1,)
    finally:
        drop_database(name)
