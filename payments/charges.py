"""The pay page's card paths, each as claim -> commit -> call -> record, so no gateway call
runs while a transaction or a row lock is held (ARCHITECTURE).

A charge claims its attempt `pending -> processing` with a conditional UPDATE in a short
committed transaction: of two concurrent submits only one wins, the other gets the current
state. The winner asks Stripe with the attempt's key `pi:<payment id>` and no transaction open,
then settles in a new short one (settle re-locks and is idempotent). A crash in between leaves
`processing`, which the sweeper settles after `sweeper.STALE` by asking again with that key.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ValidationFailed
from payments import domain
from payments.gateway import GatewayError, GatewayUnknown, Intent
from payments.models import Payment, PaymentHistory
from payments.payability import check_payable
from payments.ports import PaymentDeps, lock_payment, require_gateway, upstream
from payments.refunds import send_auto_refund
from payments.service import live_link, move, payment_by_token, settle

Sessions = async_sessionmaker[AsyncSession]


def _metadata(payment: Payment) -> dict[str, str]:
    return {
        "order_id": payment.order_id,
        "order_number": payment.order_number,
        "payment_id": payment.id,
    }


async def ensure_setup_intent(
    sessions: Sessions, deps: PaymentDeps, token: str, now: datetime
) -> Payment:
    """The pay page needs a SetupIntent for the card Element (one per payment attempt)."""
    async with sessions() as session:
        payment = await payment_by_token(session, token, now)
    if payment.setup_client_secret is not None or payment.status != domain.PENDING:
        return payment
    async with upstream():  # same key: two page loads at once get the same SetupIntent
        setup = await require_gateway(deps).create_setup_intent(
            metadata=_metadata(payment), idempotency_key=f"setup:{payment.id}"
        )
    async with sessions() as session, session.begin():
        payment = await lock_payment(session, payment.id)
        if payment.setup_client_secret is None:  # the first to record it wins
            payment.setup_intent_id, payment.setup_client_secret = setup.id, setup.client_secret
    return payment


async def _claim(
    sessions: Sessions, deps: PaymentDeps, token: str, payment_method: str, now: datetime
) -> tuple[Payment, bool]:
    """Move the attempt pending -> processing with its method; (payment, whether we won)."""
    async with sessions() as session, session.begin():
        # 409 for a cancelled or expired order, 410 for a lapsed link: before any PaymentIntent
        payment = live_link(await check_payable(session, deps.orders, token, now), now)
        won = await session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == domain.PENDING)
            .values(status=domain.PROCESSING, payment_method=payment_method, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(payment)
        if getattr(won, "rowcount", 0) != 1:
            return payment, False
        session.add(
            PaymentHistory(
                payment_id=payment.id,
                at=now,
                actor=f"customer:{payment.customer_id}",
                from_status=domain.PENDING,
                to_status=domain.PROCESSING,
                reason="card submitted",
            )
        )
    return payment, True


async def charge_card(
    sessions: Sessions, deps: PaymentDeps, token: str, payment_method: str, *, now: datetime
) -> tuple[Payment, str | None]:
    """Create and confirm this attempt's PaymentIntent; return (payment, client secret for 3DS)."""
    if not payment_method.startswith("pm_") or len(payment_method) > 64:
        raise ValidationFailed.field("payment_method", "must be a Stripe PaymentMethod id")
    require_gateway(deps)
    payment, won = await _claim(sessions, deps, token, payment_method, now)
    if not won:
        return payment, None
    try:
        intent = await create_intent_for(deps, payment)
    except GatewayError as exc:
        return await _record_refusal(sessions, payment.id, domain.FAILED, str(exc), now), None
    except GatewayUnknown as exc:
        return await _record_refusal(sessions, payment.id, domain.UNKNOWN, str(exc), now), None
    actor = f"customer:{payment.customer_id}"
    payment = await settle_now(sessions, deps, payment.id, intent, actor=actor, now=now)
    secret = intent.client_secret if payment.status == domain.REQUIRES_ACTION else None
    return payment, secret


async def _record_refusal(
    sessions: Sessions, payment_id: str, target: str, reason: str, now: datetime
) -> Payment:
    """No intent came back: failed (refused) or unknown (timeout), unless settled meanwhile."""
    async with sessions() as session, session.begin():
        payment = await lock_payment(session, payment_id)
        if payment.status == domain.PROCESSING and payment.intent_id is None:
            if target == domain.FAILED:
                payment.failure_reason = reason[:200]
            move(session, payment, target, actor="system:stripe", reason=reason, now=now)
    return payment


async def create_intent_for(deps: PaymentDeps, payment: Payment) -> Intent:
    """One PaymentIntent per attempt: the key is the payment id, so a retry never charges twice."""
    assert payment.payment_method is not None
    return await require_gateway(deps).create_intent(
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        metadata=_metadata(payment),
        idempotency_key=f"pi:{payment.id}",
    )


async def settle_now(
    sessions: Sessions,
    deps: PaymentDeps,
    payment_id: str,
    intent: Intent,
    *,
    actor: str,
    now: datetime,
) -> Payment:
    """Settle in a short transaction of its own, then send the auto refund it reserved."""
    async with sessions() as session, session.begin():
        payment = await settle(session, deps, payment_id, intent, actor=actor, now=now)
    await send_auto_refund(sessions, deps, payment_id, now)
    return payment


async def refresh_from_gateway(
    sessions: Sessions, deps: PaymentDeps, payment: Payment, *, actor: str, now: datetime
) -> Payment:
    """The pay page's return after 3-D Secure: ask Stripe, then settle like a webhook."""
    if payment.intent_id is None:
        return payment
    async with upstream():
        intent = await require_gateway(deps).retrieve_intent(payment.intent_id)
    return await settle_now(sessions, deps, payment.id, intent, actor=actor, now=now)
