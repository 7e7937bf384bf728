"""Transactional outbox: a fact that needs a job is written in the same transaction as the
change that caused it, so a job is never sent for a rolled-back change and never lost after
a commit. A relay (fulfillment/worker side) moves pending rows to the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import (
    JSON,
    Index,
    Integer,
    Select,
    String,
    Update,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.db import Base, UtcDateTime, id_column, insert_many, is_postgres, new_id

log = structlog.get_logger("hotline.outbox")


class OutboxMessage(Base):
    __tablename__ = "outbox_messages"

    id: Mapped[str] = id_column()
    topic: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    available_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)

    __table_args__ = (Index("ix_outbox_pending", "sent_at", "available_at"),)


def emit(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    available_at: datetime | None = None,
) -> OutboxMessage:
    """Record a fact for the worker; committed (or rolled back) with the caller's transaction.

    `payload` carries ids only, never ORM objects, so a job reloads fresh state.
    """
    message = new_message(topic, payload, now=now, available_at=available_at)
    session.add(message)
    if available_at is None or available_at <= now:
        session.sync_session.info[_EMITTED] = True
    return message


async def emit_many(
    session: AsyncSession, topic: str, payloads: list[dict[str, Any]], *, now: datetime
) -> None:
    """`emit` for many messages due now, in one INSERT instead of one ORM object each (the
    set-based escalation pass writes hundreds at once)."""
    if not payloads:
        return
    rows = [
        {"id": new_id(), "topic": topic, "payload": p, "created_at": now, "available_at": now,
         "attempts": 0}
        for p in payloads
    ]  # fmt: skip
    await insert_many(session, OutboxMessage, rows)
    session.sync_session.info[_EMITTED] = True


async def emit_claimed(
    session: AsyncSession, topic: str, payloads: list[dict[str, Any]], *, now: datetime
) -> list[str]:
    """`emit_many` for messages the emitting job runs itself right after its commit (a fast
    path; fulfillment.batch says why). The rows are written already claimed, as the relay's
    `_claim` leaves a row, so no relay sends them meanwhile; the job calls `record_sent` once it
    ran them, or `release` to hand them to the relay. A job that dies first leaves them to the
    relay when the claim runs out (CLAIM), exactly like a relay killed mid-batch."""
    rows = [
        {"id": new_id(), "topic": topic, "payload": p, "created_at": now,
         "available_at": now + CLAIM, "attempts": 0}
        for p in payloads
    ]  # fmt: skip
    if rows:
        await insert_many(session, OutboxMessage, rows)
    return [str(r["id"]) for r in rows]


async def record_sent(session: AsyncSession, ids: list[str], *, now: datetime) -> None:
    """Claimed messages whose job has run, marked sent as the relay marks what the broker took,
    inside the caller's transaction: the job that records what they did marks them sent in
    that same commit, so a message is never left sent-but-unrecorded or recorded-but-unsent."""
    if ids:
        await session.execute(_unsent(ids).values(sent_at=now))


async def release(
    sessions: async_sessionmaker[AsyncSession], ids: list[str], *, now: datetime
) -> None:
    """Claimed messages handed back, in a transaction of their own: they are due now, and this
    process's relay runs after the commit."""
    async with sessions() as session, session.begin():
        await session.execute(_unsent(ids).values(available_at=now))
        session.sync_session.info[_EMITTED] = True


def _unsent(ids: list[str]) -> Update:
    return update(OutboxMessage).where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None))


def new_message(
    topic: str, payload: dict[str, Any], *, now: datetime, available_at: datetime | None = None
) -> OutboxMessage:
    """The row `emit` adds; a write that inserts it by its own SQL calls `wake_relays()` after
    its commit."""
    return OutboxMessage(**message_row(topic, payload, now=now, available_at=available_at))


def message_row(
    topic: str, payload: dict[str, Any], *, now: datetime, available_at: datetime | None = None
) -> dict[str, Any]:
    """`new_message`'s row as column values by name, its one source (payments/carrier_pg.py
    hands it to its PostgreSQL function as it is)."""
    return {"id": new_id(), "topic": topic, "payload": payload, "created_at": now,
            "available_at": available_at or now, "sent_at": None, "attempts": 0,
            "last_error": None}  # fmt: skip


# Waking this process's relay. The relay polls every 0.1 s, so a fact (a payment marking its
# order paid) waited ~50 ms on average, up to 100 ms, before its job ran or an agent's page
# heard of it (bench/console.py). A commit that emitted a message due now sets these events
# and the relay runs at once; the poll stays, for rows committed by other processes and
# for rows whose `available_at` lies ahead.
_EMITTED = "hotline_outbox_emitted"
_wakeups: dict[asyncio.Event, asyncio.AbstractEventLoop] = {}


def relay_wakeup() -> asyncio.Event:
    """An event set after every commit (in this process) that emitted a message due now.
    Call it on the loop that waits for it."""
    wakeup = asyncio.Event()
    _wakeups[wakeup] = asyncio.get_running_loop()
    return wakeup


def forget_wakeup(wakeup: asyncio.Event) -> None:
    _wakeups.pop(wakeup, None)


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.info.pop(_EMITTED, False):
        wake_relays()


# Called by wake_relays too: an API process rings the worker processes' relays (core.doorbell).
_ringers: list[Callable[[], None]] = []


def add_ringer(ring: Callable[[], None]) -> None:
    _ringers.append(ring)


def remove_ringer(ring: Callable[[], None]) -> None:
    with contextlib.suppress(ValueError):
        _ringers.remove(ring)


def wake_relays() -> None:
    """Run the relays now, this process's and (a ringer) other processes': a message due now
    was committed."""
    wake_local_relays()
    for ring in list(_ringers):
        ring()


def wake_local_relays() -> None:
    """Run this process's relays now."""
    here = _current_loop()
    for wakeup, loop in list(_wakeups.items()):
        if loop is here:
            wakeup.set()
        else:  # a commit on another loop or thread (tests, a CLI); a closed loop wakes no one
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(wakeup.set)


@event.listens_for(Session, "after_rollback")
def _nothing_emitted(session: Session) -> None:
    session.info.pop(_EMITTED, None)


class Sender(Protocol):
    """Where the relay hands messages: Dramatiq (core.broker.DramatiqSender) or in-process."""

    @property
    def topics(self) -> frozenset[str]: ...

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None: ...


def _pending(topics: frozenset[str], now: datetime, batch: int) -> Select[OutboxMessage]:
    return (
        select(OutboxMessage)
        .where(
            OutboxMessage.sent_at.is_(None),
            OutboxMessage.available_at <= now,
            OutboxMessage.topic.in_(sorted(topics)),
        )
        .order_by(OutboxMessage.available_at)
        .limit(batch)
    )


def _failed(message: OutboxMessage, exc: Exception, now: datetime) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:500]
    message.available_at = now + timedelta(seconds=min(60, 2 ** min(message.attempts, 6)))


def redeliver(message: OutboxMessage, now: datetime, reason: str) -> None:
    """Send a message that was sent already once more (its job was lost after the send, e.g.
    the broker gave up on it): the relay picks it up again under the same id."""
    message.sent_at = None
    message.available_at = now
    message.attempts += 1
    message.last_error = f"redelivered: {reason}"[:500]


# A claimed row is hidden from other relays this long: long enough for an in-process job
# (a partner call has a 10 s timeout), short enough that a relay killed mid-batch delays its
# rows by minutes only. A sender whose send is shorter says so by its `claim` (a timedelta).
CLAIM = timedelta(minutes=5)


async def _claim(
    sessions: async_sessionmaker[AsyncSession],
    topics: frozenset[str],
    now: datetime,
    batch: int,
    lock_rows: bool,
    claim: timedelta = CLAIM,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Take due rows out of other relays' sight by moving `available_at` past `claim`, in one
    short transaction: the row locks (PostgreSQL, SKIP LOCKED) end at its COMMIT, before any
    message is sent."""
    async with sessions() as session, session.begin():
        query = _pending(topics, now, batch)
        if lock_rows and is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        rows = list(await session.scalars(query))
        for message in rows:
            message.available_at = now + claim
        return [(m.id, m.topic, dict(m.payload)) for m in rows]


async def relay_once(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    *,
    now: datetime,
    batch: int = 100,
    lock_rows: bool = True,
) -> int:
    """Move due messages to the sender; return how many were sent.

    At-least-once: a message is marked sent only after the sender accepted it, so a crash
    between the two resends it after the sender's claim (jobs are idempotent; the Dramatiq
    message id is the outbox id). Rows are claimed first in a committed transaction
    (`_claim`), so several relays share the work without sending a row twice, and no row lock
    is held while the sender runs: with the in-process sender that is the whole job, partner
    calls included.
    `lock_rows=False` exists only for the canary test that shows the race without the lock.
    """
    topics = sender.topics
    if not topics:
        return 0
    claim = getattr(sender, "claim", CLAIM)
    claimed = await _claim(sessions, topics, now, batch, lock_rows, claim)
    batched = frozenset(getattr(sender, "batch_topics", frozenset()))
    sent = 0
    if batched:
        sent, claimed = await _send_batches(sessions, sender, claimed, batched, now)
    for index, (message_id, topic, payload) in enumerate(claimed):
        try:
            await sender.send(message_id, topic, payload)
        except Exception as exc:  # broker down: keep it pending, retry later
            log.warning("outbox send failed", topic=topic, error=str(exc))
            async with sessions() as session, session.begin():
                row = await session.get(OutboxMessage, message_id)
                if row is not None:
                    _failed(row, exc, now)
                # The broker is likely down for the rest too: give them back for the next tick
                # instead of waiting out a socket timeout each.
                rest = [m for m, _, _ in claimed[index + 1 :]]
                if rest:
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(rest), OutboxMessage.sent_at.is_(None))
                        .values(available_at=now)
                    )
            break
        async with sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id).values(sent_at=now)
            )
        sent += 1
    return sent


# Fewer due messages of a topic than this go one job each: a batch of two or three saves little,
# and one job per message keeps a failing one from holding back the others' retries.
BATCH_MIN = 8


async def _send_batches(
    sessions: async_sessionmaker[AsyncSession],
    sender: Sender,
    claimed: list[tuple[str, str, dict[str, Any]]],
    batched: frozenset[str],
    now: datetime,
) -> tuple[int, list[tuple[str, str, dict[str, Any]]]]:
    """The fast path for topics whose consumer takes many payloads in one job (a burst of
    `order.paid`): each such topic's claimed rows go out as one message and are marked sent in
    one UPDATE, instead of a send and a transaction each. Same at-least-once rule as the plain
    path: marked sent only after the sender accepted them; a failed send gives the rows back.
    Returns how many were sent and the claimed rows left for the plain path."""
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    rest: list[tuple[str, str, dict[str, Any]]] = []
    for message_id, topic, payload in claimed:
        if topic in batched:
            groups.setdefault(topic, []).append((message_id, payload))
        else:
            rest.append((message_id, topic, payload))
    sent = 0
    for topic, messages in groups.items():
        if len(messages) < BATCH_MIN:  # a trickle: one job each, as the plain path sends
            rest.extend((m, topic, p) for m, p in messages)
            continue
        ids = [m for m, _ in messages]
        try:
            await sender.send_many(topic, messages)  # type: ignore[attr-defined]
        except Exception as exc:  # broker down: the rows wait for the next tick
            log.warning("outbox send failed", topic=topic, error=str(exc))
            async with sessions() as session, session.begin():
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None))
                    .values(
                        available_at=now + timedelta(seconds=2),
                        attempts=OutboxMessage.attempts + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:500],
                    )
                )
            continue
        async with sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(sent_at=now)
            )
        sent += len(ids)
    return sent, rest


async def purge_sent(session: AsyncSession, now: datetime, retention: timedelta) -> int:
    """Delete messages sent longer than `retention` ago (pending ones are never purged)."""
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at <= now - retention
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
