"""The SQLite demo database cannot reconcile (no COPY, no set-based matching there): imports
and runs refuse with 409 `needs-postgresql` instead of failing half-way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from core.db import make_engine
from payments import CARRIER, CARRIER_FILE, NeedsPostgres, import_file, recon


async def _chunks() -> AsyncIterator[bytes]:
    yield b"phone,charge_id,amount,currency,charged_at,status,settlement_date\n"


async def _cr_alone() -> AsyncIterator[bytes]:
    yield b"phone,charge_id,amount,currency,charged_at,status,settlement_date\r+86,x\r"


async def test_sqlite_refuses_before_reading_the_file() -> None:
    """409 needs-postgresql whatever the file holds: its header was parsed first, so a file
    Python's csv could not read was a 500 there."""
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    try:
        with pytest.raises(NeedsPostgres):
            await import_file(
                async_sessionmaker(engine),
                CARRIER_FILE,
                _cr_alone(),
                name="x.csv",
                actor="t",
                tz="Asia/Shanghai",
                now=datetime.now(UTC),
            )
    finally:
        await engine.dispose()


async def test_sqlite_refuses_with_a_clear_problem() -> None:
    engine = make_engine("sqlite+aiosqlite:///:memory:")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime.now(UTC)
    try:
        with pytest.raises(NeedsPostgres) as refused:
            await recon.reconcile(
                sessions,
                CARRIER,
                start=now - timedelta(days=1),
                end=now,
                window=timedelta(hours=1),
                actor="t",
                now=now,
            )
        assert refused.value.status == 409 and "PostgreSQL" in refused.value.detail
        with pytest.raises(NeedsPostgres):
            await import_file(
                sessions,
                CARRIER_FILE,
                _chunks(),
                name="x.csv",
                actor="t",
                tz="Asia/Shanghai",
                now=now,
            )
    finally:
        await engine.dispose()
