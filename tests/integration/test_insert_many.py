"""core.db.insert_many / update_many: the one-statement PostgreSQL form (arrays and unnest)
writes exactly what the plain executemany writes, which SQLite (the embedded default) runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.migrate import upgrade
from core.db import insert_many, make_engine, make_sessionmaker, new_id, update_many
from core.outbox import OutboxMessage

NOW = datetime(2026, 12, 3, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
async def sessions(
    request: pytest.FixtureRequest, pg_url: str, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = pg_url
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'many.db'}"
        await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def rows(topic: str) -> list[dict[str, Any]]:
    """Every kind of value: text with quotes and non-ASCII, JSON with nesting and unicode,
    aware datetimes (one not in UTC), a NULL; `attempts` left out (its default)."""
    beijing = timezone(timedelta(hours=8))
    return [
        {"id": new_id(), "topic": topic, "payload": {"order": "O-1", "名": ["票", 2, None]},
         "created_at": NOW, "available_at": NOW.astimezone(beijing), "last_error": None},
        {"id": new_id(), "topic": topic, "payload": {"quote": "it's \"here\"", "n": 10**15},
         "created_at": NOW, "available_at": NOW + timedelta(seconds=1),
         "last_error": "x'); DROP TABLE outbox_messages; --"},
    ]  # fmt: skip


async def read(sessions: async_sessionmaker[AsyncSession], topic: str) -> list[tuple[Any, ...]]:
    async with sessions() as session:
        found = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == topic).order_by(OutboxMessage.id)
        )
        return [
            (m.id, m.payload, m.created_at, m.available_at, m.sent_at, m.attempts, m.last_error)
            for m in found
        ]


async def inserted(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[str, list[dict[str, Any]]]:
    """A topic of its own and the rows insert_many wrote under it."""
    topic = f"test.many.{new_id()[:8]}"
    written = rows(topic)
    async with sessions() as session, session.begin():
        await insert_many(session, OutboxMessage, written)
    return topic, written


async def test_insert_many_writes_each_value_as_given(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topic, written = await inserted(sessions)
    expected = sorted(
        (r["id"], r["payload"], NOW, r["available_at"].astimezone(UTC), None, 0, r["last_error"])
        for r in written
    )
    assert await read(sessions, topic) == expected


async def test_update_many_sets_each_rows_values_and_the_shared_ones(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topic, written = await inserted(sessions)
    async with sessions() as session, session.begin():
        await update_many(
            session,
            OutboxMessage,
            [
                {"id": r["id"], "attempts": n + 3, "last_error": f"第{n}次"}
                for n, r in enumerate(written)
            ],
            values={"sent_at": NOW, "payload": {"done": True}},
        )
    got = await read(sessions, topic)
    assert [(g[1], g[4], g[5], g[6]) for g in got] == [
        ({"done": True}, NOW, n + 3, f"第{n}次")
        for n in sorted(range(2), key=lambda n: written[n]["id"])
    ]


async def test_a_naive_time_is_refused_and_nothing_is_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    topic = f"test.many.{new_id()[:8]}"
    bad = rows(topic)
    bad[1]["created_at"] = NOW.replace(tzinfo=None)
    with pytest.raises((ValueError, StatementError)):
        async with sessions() as session, session.begin():
            await insert_many(session, OutboxMessage, bad)
    assert await read(sessions, topic) == []
