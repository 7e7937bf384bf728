"""Settle what the gateway left unanswered. Safe with several sweepers at once: each row is
claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, in its own short transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import is_postgres
from payments import domain
from payments.gateway import GatewayError, GatewayUnknown
from payments.models import Payment, Refund
from payments.refunds import send_card_refund
from payments.service import PaymentDeps, create_intent_for, move, settle

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
            await session.scalars(select(Refund.id).where(Refund.status == "unknown").limit(limit))
        )
    for pid in pay_ids:
        settled += await _sweep_payment(sessions, deps, pid, now)
    for rid in refund_ids:
        settled += await _sweep_refund(sessions, deps, rid, now)
    return settled


async def _sweep_payment(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, pid: str, now: datetime
) -> int:
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
            row.failure_reason = str(exc)[:200]
            move(session, row, domain.FAILED, actor="system:sweeper", reason=str(exc), now=now)
            return 1
        before = row.status
        after = await settle(session, deps, row.id, intent, actor="system:sweeper", now=now)
        return int(after.status != before)


async def _sweep_refund(
    sessions: async_sessionmaker[AsyncSession], deps: PaymentDeps, rid: str, now: datetime
) -> int:
    async with sessions() as session, session.begin():
        refund = await session.scalar(
            select(Refund)
            .where(Refund.id == rid, Refund.status == "unknown")
            .with_for_update(skip_locked=True)
            if is_postgres(session)
            else select(Refund).where(Refund.id == rid)
        )
        if refund is None or refund.status != "unknown":
            return 0
        payment = await session.get_one(Payment, refund.payment_id)
        await send_card_refund(session, deps, payment, refund, now=now)
        return int(refund.status != "unknown")
