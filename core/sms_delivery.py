"""Delivering queued SMS, their delivery status, and inbound SMS answered once.

The `sms.send` job claims the row (a lease, committed), calls the provider with no
transaction open, then records the provider's message id in a second short transaction, the
way fulfillment dispatches to partners. A redelivered job finds the row `sent` (or leased by
another worker) and does nothing, so a message is not texted twice for one outbox message.

At-least-once, not exactly-once: if the process dies after the provider accepted the text
and before the second transaction commits, the row stays `sending`; when its lease lapses
the sweep queues it again and the customer gets the text twice. Twilio offers no idempotency
key for Messages, so a duplicate text is the price of never losing one.

A delivery-status callback that arrives before our second transaction commits finds no row
with that provider id and is dropped (logged as unknown); the row then stays `sent`. Twilio
reports `delivered` seconds later, so this mostly loses the early `queued`/`sent` callbacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from asyncpg.exceptions import UniqueViolationError
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.db import is_postgres
from core.outbox import emit
from core.sms import (
    FAILED,
    QUEUED,
    RANK,
    SECRET_PURPOSES,
    SENDING,
    SENT,
    TOPIC_SEND,
    SmsInbound,
    SmsMessage,
    SmsProvider,
    SmsRejected,
)

log = structlog.get_logger("hotline.sms")

REDACTED = "[sent; secret not kept]"
LEASE_SECONDS = 60.0  # well above the provider's 10 s timeout
MAX_ATTEMPTS = 6
# Twilio's callback statuses onto ours: before `sent` they tell us nothing new.
PROVIDER_STATUS = {
    "accepted": SENT,
    "scheduled": SENT,
    "queued": SENT,
    "sending": SENT,
    "sent": SENT,
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": FAILED,
    "canceled": FAILED,
}


def backoff_seconds(attempts: int) -> float:
    return float(min(300, 2 ** min(attempts, 8)))


async def _claim(
    sessions: async_sessionmaker[AsyncSession], sms_id: str, now: datetime
) -> tuple[str, str, str, int] | None:
    async with sessions() as session, session.begin():
        claimed = await session.execute(
            update(SmsMessage)
            .where(
                SmsMessage.id == sms_id,
                or_(
                    SmsMessage.status == QUEUED,
                    (SmsMessage.status == SENDING) & (SmsMessage.lease_until < now),
                ),
            )
            .values(
                status=SENDING,
                lease_until=now + timedelta(seconds=LEASE_SECONDS),
                attempts=SmsMessage.attempts + 1,
                status_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            return None
        row = (
            await session.execute(
                select(
                    SmsMessage.to, SmsMessage.body, SmsMessage.purpose, SmsMessage.attempts
                ).where(SmsMessage.id == sms_id)
            )
        ).one()
        return row.to, row.body, row.purpose, row.attempts


# Called in the transaction that marks a text failed for good: (session, sms id, attempts,
# error). The composition points it at the dead-letter list (fulfillment.dead_letter_sms).
OnFailed = Callable[[AsyncSession, str, int, str], Awaitable[None]]


async def deliver(
    sessions: async_sessionmaker[AsyncSession],
    provider: SmsProvider,
    clock: Clock,
    sms_id: str,
    on_failed: OnFailed | None = None,
) -> str:
    """Job for `sms.send`: hand one queued text to the provider; returns what happened. A text
    refused for good, or still failing after MAX_ATTEMPTS (backoff 2, 4, 8... s, at most 300),
    is `failed` and handed to `on_failed` in the same transaction."""
    claimed = await _claim(sessions, sms_id, clock.now())
    if claimed is None:
        return "skipped"  # sent already, failed for good, or another worker holds the lease
    to, body, purpose, attempts = claimed
    error: str | None = None
    permanent = False
    provider_id = ""
    try:
        provider_id = await provider.deliver(to, body)  # no transaction is open here
    except SmsRejected as exc:
        error, permanent = str(exc), True
    except Exception as exc:  # outage or timeout: retried later from the outbox
        error = f"{type(exc).__name__}: {exc}"
    now = clock.now()
    async with sessions() as session, session.begin():
        mine = (SmsMessage.id == sms_id) & (SmsMessage.status == SENDING)
        if error is None:
            values: dict[str, object] = {
                "status": SENT,
                "provider_message_id": provider_id,
                "sent_at": now,
                "lease_until": None,
                "error": None,
                "status_at": now,
            }
            if purpose in SECRET_PURPOSES and not provider.is_sink:
                values["body"] = REDACTED  # the code is hashed in auth; no plain copy here
            await session.execute(
                update(SmsMessage)
                # Also when the sweep requeued it meanwhile (our lease lapsed mid-call): it is
                # sent, and recording that spares the customer the duplicate.
                .where(SmsMessage.id == sms_id, SmsMessage.status.in_((QUEUED, SENDING)))
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            log.info("sms sent", sms_id=sms_id, provider_message_id=provider_id)
            return "sent"
        final = permanent or attempts >= MAX_ATTEMPTS
        failed: dict[str, object] = {
            "status": FAILED if final else QUEUED,
            "error": error[:500],
            "lease_until": None,
            "status_at": now,
        }
        if final and purpose in SECRET_PURPOSES and not provider.is_sink:
            failed["body"] = REDACTED
        await session.execute(
            update(SmsMessage)
            .where(mine)
            .values(**failed)
            .execution_options(synchronize_session=False)
        )
        if not final:
            due = now + timedelta(seconds=backoff_seconds(attempts))
            emit(session, TOPIC_SEND, {"sms_id": sms_id}, now=now, available_at=due)
        elif on_failed is not None:
            await on_failed(session, sms_id, attempts, error[:500])
    log.warning("sms not sent", sms_id=sms_id, error=error, final=final, attempts=attempts)
    return "failed" if final else "retry"


async def requeue_failed(session: AsyncSession, sms_id: str, now: datetime) -> bool:
    """Give a failed text a fresh set of attempts (a dead letter replayed). False when it is
    not failed, or its body was a secret we no longer keep (a new code must be asked for)."""
    result = await session.execute(
        update(SmsMessage)
        .where(SmsMessage.id == sms_id, SmsMessage.status == FAILED, SmsMessage.body != REDACTED)
        .values(status=QUEUED, attempts=0, error=None, status_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    emit(session, TOPIC_SEND, {"sms_id": sms_id}, now=now)
    return True


async def requeue_stale(
    sessions: async_sessionmaker[AsyncSession], now: datetime, *, batch: int = 100
) -> int:
    """Periodic: a text whose job died mid-send (lease lapsed while `sending`) is queued again.
    This is where the duplicate of the at-least-once note above comes from."""
    async with sessions() as session, session.begin():
        ids = list(
            await session.scalars(
                update(SmsMessage)
                .where(
                    SmsMessage.id.in_(
                        select(SmsMessage.id)
                        .where(SmsMessage.status == SENDING, SmsMessage.lease_until < now)
                        .limit(batch)
                        .scalar_subquery()
                    ),
                    SmsMessage.status == SENDING,
                    SmsMessage.lease_until < now,
                )
                .values(status=QUEUED, lease_until=None, status_at=now)
                .returning(SmsMessage.id)
                .execution_options(synchronize_session=False)
            )
        )
        for sms_id in ids:
            emit(session, TOPIC_SEND, {"sms_id": sms_id}, now=now)
    if ids:
        log.warning("stale sms leases requeued", count=len(ids))
    return len(ids)


async def apply_status(
    session: AsyncSession, provider_message_id: str, provider_status: str, now: datetime
) -> str:
    """Record a delivery-status callback. Callbacks can arrive out of order, so a status only
    moves forward: `delivered` is never taken back to `sent`. Returns unknown, unchanged or
    the new status."""
    status = PROVIDER_STATUS.get(provider_status.lower())
    if status is None:
        return "unknown"
    current = await session.scalar(
        select(SmsMessage.status).where(SmsMessage.provider_message_id == provider_message_id)
    )
    if current is None:
        return "unknown"
    behind = [s for s, rank in RANK.items() if rank < RANK[status]]
    result = await session.execute(
        update(SmsMessage)
        .where(
            SmsMessage.provider_message_id == provider_message_id,
            SmsMessage.status.in_(behind),  # conditional: a concurrent callback cannot regress
        )
        .values(status=status, status_at=now)
        .execution_options(synchronize_session=False)
    )
    return status if result.rowcount else "unchanged"  # type: ignore[attr-defined]


_INBOUND = insert(SmsInbound)  # built once: building a statement costs more than running it


async def answer_once(
    sessions: async_sessionmaker[AsyncSession],
    message_sid: str,
    from_phone: str | None,
    now: datetime,
    answer: Callable[[AsyncSession], Awaitable[str]],
    *,
    serialise: Callable[[AsyncSession], Awaitable[str | None]] | None = None,
    answer_records: bool = False,
) -> tuple[str, bool]:
    """Answer an inbound SMS once per `message_sid`: `answer` runs (and its writes commit) in
    the same transaction that stores its reply, so a gateway retry gets the stored reply and
    changes nothing. `serialise` runs first in that transaction instead of the plain lookup:
    it takes the sender's lock (so one number's texts are handled one at a time and a retry
    waits for its first copy) and returns the stored reply of `message_sid`, if any, in the
    same statement (the SMS channel's `ordering.lock_sender`).

    Without `serialise`, on PostgreSQL, the MessageSid's row is inserted before `answer`
    runs: a concurrent copy's INSERT waits on the first's primary key, then fails, and reads
    the reply the first committed (`answer` runs once). Otherwise the row is inserted after
    `answer` (one statement less; copies already wait on `serialise`, and on SQLite on its
    single writer), so `answer` may write in transactions of its own before this one writes
    (a PIN miss is recorded that way). A copy that still slips through fails on the key and
    rolls back everything its `answer` did. With `answer_records` (and `serialise`), `answer`
    inserts the MessageSid's row itself, in the statement that stores what else it records
    (the SMS channel's conversation: one round trip less per text). Returns (reply, first
    time)."""
    async with sessions() as session:
        try:
            async with session.begin():
                if serialise is not None:
                    earlier = await serialise(session)
                    if earlier is not None:
                        return earlier, False
                else:
                    stored = await session.get(SmsInbound, message_sid)
                    if stored is not None:
                        return stored.reply, False
                key = {"message_sid": message_sid, "from_phone": from_phone, "received_at": now}
                if serialise is None and is_postgres(session):
                    # takes the key now, before `answer` writes anything
                    await session.execute(_INBOUND, {"reply": "", **key})
                    reply = await answer(session)
                    await session.execute(
                        update(SmsInbound)
                        .where(SmsInbound.message_sid == message_sid)
                        .values(reply=reply)
                    )
                else:
                    reply = await answer(session)
                    if not (answer_records and serialise is not None):
                        await session.execute(_INBOUND, {"reply": reply, **key})
                return reply, True
        except (IntegrityError, UniqueViolationError):  # the latter: sent on asyncpg itself
            session.expunge_all()
            async with session.begin():
                stored = await session.get(SmsInbound, message_sid)
            if stored is None:  # something else clashed: not a retry
                raise
            return stored.reply, False
