"""Settle what the gateway left unanswered: `unknown` attempts and refunds, and ones a crash
left between claim and record (`processing` attempts, `pending` refunds, older than STALE).
Each row is claimed (read under FOR UPDATE SKIP LOCKED on PostgreSQL) in a short transaction,
the gateway is asked with no transaction open, and the answer settled in a new one. Safe with
several sweepers at once: the calls repeat idempotency keys and the recording is idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres
from payments import domain
from payments.charges import create_intent_for, settle_now
from payments.gateway import GatewayError, GatewayUnknown
from payments.models import Payment, Refund
from payments.ports import lock_payment
from payments.refunds import OPEN, send_refund
from payments.service import PaymentDeps, move

log = structlog.get_logger("hotline.payments.sweeper")
STALE = timedelta(minutes=10)


async def sweep_once(
    sessions: async_sessionmaker[AsyncSession],
    deps: PaymentDeps,
    now: datetime,
    *,
    limit: int = 50,
) -> int:
    """Ask the gateway about unknown or stale attempts and refunds; return how many settled."""
    settled = 0
    async with sessions() as session:
        pay_ids = list(
            await session.scalars(
                select(Payment.id)
                .where(
                    Payment.method == domain.CARD,
                    or_(
                        Payment.status == domain.UNKNOWN,
                        Payment.status.in_([domain.PROCESSING, domain.REQUIRES_ACTION])
                        & (Payment.updated_at < now - STALE),
                        (Payment.status == domain.PENDING) & (Payment.pay_token_expires_at <= now),
                    ),
                )
                .limit(limit)
            )
        )
        refund_ids = list(
            await session.scalars(
                select(Refund.id)
                .where(
                    or_(
                        Refund.status == "unknown",
                        (Refund.status == "pending") & (Refund.updated_at < now - STALE),
                    )
                )
                .limit(limit)
            )
        )
    for pid in pay_ids:
        settled += await _sweep_payment(sessions, deps, pid, now)
    for rid in refund_ids:
        settled += await _sweep_refund(sessions, deps, rid, now)
    return settled


async def _sweep_payment(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, pid: str, now: datetime
) -> int:
    # Claim: read the row under SKIP LOCKED in a short transaction (a row being settled right
    # now is skipped); an unused pay link is cancelled here, with no network call.
    async with sessions() as session, session.begin():
        row = await session.scalar(
            select(Payment).where(Payment.id == pid).with_for_update(skip_locked=True)
            if is_postgres(session)
            else select(Payment).where(Payment.id == pid)
        )
        if row is None or row.status in domain.FINAL:
            return 0
        abandoned = row.pay_token_expires_at is not None and row.pay_token_expires_at <= now
        if row.status == domain.PENDING:
            if not abandoned:
                return 0
            move(
                session,
                row,
                domain.CANCELED,
                actor="system:sweeper",
                reason="pay link expired unused",
                now=now,
            )
            return 1
    # Call: no transaction open. Every request repeats the first one's idempotency key, or
    # only reads, so two sweepers asking at once change nothing at Stripe.
    assert deps.gateway is not None
    try:
        if row.intent_id is not None:
            intent = await deps.gateway.retrieve_intent(row.intent_id)
            if (
                abandoned
                and intent.status.startswith("requires_")
                and (row.updated_at < now - STALE)
            ):  # 3-D Secure abandoned long after the hold: release the authorisation
                intent = await deps.gateway.cancel_intent(
                    intent.id, idempotency_key=f"cancel:{row.id}"
                )
        elif row.payment_method is not None:
            # Same idempotency key as the first try: Stripe answers with that intent.
            intent = await create_intent_for(deps, row)
        else:
            return 0
    except GatewayUnknown:  # incl. 409: our first request with this key is still running
        return 0
    except GatewayError as exc:
        if row.intent_id is not None:  # only asking about it failed: it says nothing
            log.warning("sweeper could not read the intent", payment_id=row.id, error=str(exc))
            return 0
        return await _record_failed(sessions, row, str(exc), now)
    # Record: settle re-locks the row and is idempotent.
    after = await settle_now(sessions, deps, row.id, intent, actor="system:sweeper", now=now)
    return int(after.status != row.status)


async def _record_failed(
    sessions: async_sessionmaker[AsyncSession], claimed: Payment, reason: str, now: datetime
) -> int:
    async with sessions() as session, session.begin():
        row = await lock_payment(session, claimed.id)
        if row.status != claimed.status or row.intent_id is not None:
            return 0  # settled by someone else meanwhile
        row.failure_reason = reason[:200]
        move(session, row, domain.FAILED, actor="system:sweeper", reason=reason, now=now)
        return 1


async def _sweep_refund(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, rid: str, now: datetime
) -> int:
    async with sessions() as session, session.begin():
        refund = await session.scalar(
            select(Refund).where(Refund.id == rid).with_for_update(skip_locked=True)
            if is_postgres(session)
            else select(Refund).where(Refund.id == rid)
        )
        if refund is None or refund.status not in OPEN:
            return 0
    refund = await send_refund(sessions, deps, rid, now=now)  # asks outside, records inside
    return int(refund.status not in OPEN)
