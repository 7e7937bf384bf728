"""Idempotency-Key store: one table every room uses for writes that move money or capacity.

How a write uses it (api/idempotency.py wraps this for HTTP controllers):

    fp = fingerprint({"path": path, "body": body})      # what "the same request" means
    claim = await idempotency.claim(runtime.sessions, scope=f"orders.create:{actor}",
                                    key=key, fingerprint=fp, now=now)
    if claim.replay is not None:                        # done before: answer the same again
        return claim.replay.status, claim.replay.body
    try:
        ... do the work in the request session ...
        await idempotency.complete(session, claim, status=201, body=body_json,
                                   resource_id=order.id, now=now)   # same transaction
    except BaseException:
        await idempotency.release(runtime.sessions, claim)          # key usable again
        raise

Rules it enforces:
- Keys are scoped: `scope` names the operation and the caller ("payments.create:customer:42"),
  so two customers can never see each other's responses by guessing keys.
- Same key + same fingerprint after completion -> `claim.replay` holds the first response.
- Same key + another fingerprint -> IdempotencyConflict (422 `idempotency-conflict`).
- Same key while the first request still runs -> IdempotencyInProgress (409, Retry-After).
  Concurrent duplicates therefore do the work once: the claim is an INSERT on a unique
  (scope, key) committed in its own short transaction before the work starts. That is the one
  place this module commits by itself: the claim must be visible to the concurrent duplicate
  before the work (in the caller's still-open transaction) is done.
- A claim whose worker died is taken over once its lease (`LEASE`, 60 s) lapses.
- Records live 24 hours (`KEY_TTL`); after that the key may be reused for new work.
  `purge_expired(session, now)` deletes old rows (a periodic chore).

`complete()` runs inside the caller's transaction, so the stored response commits atomically
with the work it describes: if the work rolls back, so does the completion.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import JSON, Integer, String, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column, new_id
from core.errors import IdempotencyConflict, IdempotencyInProgress, ValidationFailed

KEY_TTL = timedelta(hours=24)
LEASE = timedelta(seconds=60)
MAX_KEY_LENGTH = 255

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[str] = id_column()
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)

    __table_args__ = (UniqueConstraint("scope", "key"),)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: Any
    resource_id: str | None


@dataclass(frozen=True, slots=True)
class Claim:
    record_id: str
    scope: str
    key: str
    replay: StoredResponse | None = None


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """What a claim is made of: a write that claims its key in one of its own statements
    (ticketing_open_ticket, see ticketing/opening_pg.py) inserts these."""

    scope: str
    key: str
    fingerprint: str


def fingerprint(payload: Any) -> str:
    """A stable hash of what makes two requests "the same" (canonical JSON, sorted keys)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed.field("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters")
    return key


# Built once (the claim and the completion run on every keyed write): see commerce/service.py.
_TABLE: Any = IdempotencyRecord.__table__
_CLAIM = {
    name: dialect.insert(_TABLE)
    .on_conflict_do_nothing(index_elements=["scope", "key"])
    .returning(_TABLE.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_COMPLETE = update(_TABLE).where(_TABLE.c.id == bindparam("record_id"))


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    scope: str,
    key: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta = KEY_TTL,
    lease: timedelta = LEASE,
    autocommit: AsyncEngine | None = None,
) -> Claim:
    """Reserve (scope, key) for this request, or say why not (see the module docstring).

    With `autocommit` (Runtime.autocommit()) a new key costs one round trip: its INSERT is
    atomic on its own. A key already there goes through the transaction below."""
    key = check_key(key)

    def new_record() -> dict[str, Any]:
        return {
            "id": new_id(),
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "state": IN_PROGRESS,
            "created_at": now,
            "locked_until": now + lease,
            "expires_at": now + ttl,
        }

    if autocommit is not None:
        record = new_record()
        async with autocommit.connect() as connection:
            inserted = await connection.scalar(_CLAIM[autocommit.dialect.name], record)
        if inserted is not None:
            return Claim(record["id"], scope, key)
    for _ in range(3):
        async with sessions() as session, session.begin():
            record = new_record()
            dialect = session.get_bind().dialect.name
            if await session.scalar(_CLAIM[dialect], record) is not None:
                return Claim(record["id"], scope, key)
            row = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
            if row is None:  # purged in between: try the insert again
                continue
            stale = row.expires_at <= now or (
                row.state == IN_PROGRESS
                and row.locked_until is not None
                and row.locked_until <= now
            )
            if stale:
                # The old record is out of date (expired, or its worker died): take it over
                # with a conditional update so only one of several contenders wins.
                taken = await session.scalar(
                    update(IdempotencyRecord)
                    .where(
                        IdempotencyRecord.id == row.id,
                        IdempotencyRecord.state == row.state,
                        IdempotencyRecord.expires_at == row.expires_at,
                        IdempotencyRecord.created_at == row.created_at,
                    )
                    .values(
                        fingerprint=fingerprint,
                        state=IN_PROGRESS,
                        response_status=None,
                        response_body=None,
                        resource_id=None,
                        created_at=now,
                        locked_until=now + lease,
                        expires_at=now + ttl,
                    )
                    .returning(IdempotencyRecord.id)
                    .execution_options(synchronize_session=False)
                )
                if taken is not None:
                    return Claim(row.id, scope, key)
                continue
            if row.fingerprint != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request")
            if row.state == COMPLETED and row.response_status is not None:
                return Claim(
                    row.id,
                    scope,
                    key,
                    replay=StoredResponse(row.response_status, row.response_body, row.resource_id),
                )
            raise IdempotencyInProgress(
                "a request with this Idempotency-Key is still running; retry shortly",
                headers={"Retry-After": "1"},
            )
    raise IdempotencyInProgress(
        "a request with this Idempotency-Key is contended; retry shortly",
        headers={"Retry-After": "1"},
    )


@dataclass(frozen=True, slots=True)
class Completion:
    """The response `complete` stores, for a write that stores it in one of its own
    statements (commerce_place_order, see commerce/placing_pg.py) instead of via a session."""

    record_id: str
    status: int
    body: Any
    resource_id: str | None

    def body_json(self) -> str:
        """The body as JSON text for the json column. msgspec, not SQLAlchemy's json.dumps
        that the plain path stores with: the same value when read back (the column is read
        as JSON, never compared as text), at a sixth of the cost (py-spy on a charge)."""
        return msgspec.json.encode(self.body).decode()


def completion(claim: Claim, *, status: int, body: Any, resource_id: str | None) -> Completion:
    return Completion(claim.record_id, status, body, resource_id)


async def complete(
    session: AsyncSession,
    claim: Claim,
    *,
    status: int,
    body: Any,
    resource_id: str | None = None,
    now: datetime,
) -> None:
    """Store the response in the caller's transaction (atomic with the work)."""
    await store(session, completion(claim, status=status, body=body, resource_id=resource_id))


async def store(session: AsyncSession, done: Completion) -> None:
    """`complete` for a Completion handed over by the caller."""
    await session.execute(
        _COMPLETE,
        {
            "record_id": done.record_id,
            "state": COMPLETED,
            "response_status": done.status,
            "response_body": done.body,
            "resource_id": done.resource_id,
            "locked_until": None,
        },
    )


async def release(sessions: async_sessionmaker[AsyncSession], claim: Claim) -> None:
    """The work failed and was rolled back: free the key so the client may retry it."""
    async with sessions() as session, session.begin():
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.id == claim.record_id, IdempotencyRecord.state == IN_PROGRESS
            )
        )


async def purge_expired(
    session: AsyncSession, now: datetime, retention: timedelta = KEY_TTL
) -> int:
    """Delete records past their 24 hours and older than `retention` (kept longer for audit
    when configured so; a key past its 24 hours may be reused either way); returns how many."""
    result = await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.expires_at <= now, IdempotencyRecord.created_at <= now - retention
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
