"""Stripe webhooks: verified, each event id processed once, the intent re-fetched first (with
no transaction open: see `handle_event`).

Ordering does not matter: we never trust the event's snapshot, we ask Stripe for the
PaymentIntent now and settle to that, so a late `payment_failed` after `succeeded` is a no-op.
The one event not re-fetched is a PaymentIntent event for a payment of ours settled for good
with that intent (payments/settle_pg.py `settled_for_good`): no answer could change it, so it
is only recorded once, as the re-fetch would have had it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.db import is_postgres
from core.drivers import DriverPool
from core.outbox import emit
from payments import domain, ledger, settle_pg
from payments.errors import BadSignature, NotAnEvent
from payments.gateway import (
    Dispute,
    GatewayError,
    GatewayNotFound,
    Intent,
    NotAnEventBody,
    verify_webhook,
)
from payments.models import Payment, WebhookReceipt
from payments.ports import PaymentDeps, lock_payment, require_gateway, upstream
from payments.recon_stripe import TOPIC_PAYOUT_PAID
from payments.refunds import record_external_refund, send_auto_refund
from payments.service import AUTO_REFUNDS, incident, settle
from payments.webhook_shape import HANDLED, PAYOUT_EVENTS, check_event

log = structlog.get_logger("hotline.payments.webhooks")


def parse_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """The verified event, its shape checked (payments/webhook_shape.py): the handlers below
    read its fields without asking again."""
    if not secret:
        raise BadSignature("webhooks are not configured")
    try:
        event = verify_webhook(payload, signature, secret)
    except NotAnEventBody as exc:
        raise NotAnEvent(str(exc)) from exc
    except GatewayError as exc:
        raise BadSignature(str(exc)) from exc
    plain: dict[str, Any] = event.to_dict() if hasattr(event, "to_dict") else dict(event)
    return check_event(plain)


async def _first_time(session: AsyncSession, event_id: str, kind: str, now: datetime) -> bool:
    """Record the event id; False when it was seen before. INSERT .. ON CONFLICT DO NOTHING
    (no savepoint: on SQLite a released savepoint would commit the receipt on its own)."""
    dialect = postgresql if is_postgres(session) else sqlite
    stmt = (
        dialect.insert(WebhookReceipt)
        .values(event_id=event_id, type=kind, received_at=now)
        .on_conflict_do_nothing(index_elements=["event_id"])
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0) == 1)


async def _look_up(
    db: AsyncSession | AsyncConnection, event_id: str, obj: dict[str, Any], intent_id: str
) -> tuple[bool, tuple[str, str | None] | None, Payment | None]:
    """Whether the event id was seen before, and our payment the event names (its metadata)
    or that holds the intent: (id, intent id), with a detached copy of the named payment's
    row (what payments/settle_pg.py builds on). The receipt and the named payment are read in
    one statement (a round trip less on every delivery)."""
    pid = (obj.get("metadata") or {}).get("payment_id")
    if pid:
        row = (await db.execute(_SEEN_AND_NAMED, {"event_id": event_id, "pid": pid})).one()
        if row[0]:
            return True, None, None
        if row[1] is not None:
            copy = Payment(**{c.key: v for c, v in zip(_PAYMENT.columns, row[1:], strict=True)})
            return False, (copy.id, copy.intent_id), copy
    elif await db.scalar(_SEEN, {"event_id": event_id}):
        return True, None, None
    found = await db.scalar(select(Payment.id).where(Payment.intent_id == intent_id))
    return False, None if found is None else (str(found), intent_id), None


# Built once: making the statement (its subquery's column proxies) cost more than running it.
_PAYMENT: Any = Payment.__table__
_SEEN_EXISTS = (
    select(WebhookReceipt.event_id).where(WebhookReceipt.event_id == bindparam("event_id")).exists()
)
_SEEN = select(_SEEN_EXISTS)
_NAMED = select(*_PAYMENT.columns).where(_PAYMENT.c.id == bindparam("pid")).subquery()
_SEEN_AND_NAMED = select(_SEEN_EXISTS, *_NAMED.c).select_from(
    select(literal(1).label("one")).subquery().outerjoin(_NAMED, true())
)


def _ours(intent: Intent, payment_id: str, payment_intent: str | None) -> bool:
    """Stripe's intent, not the event's snapshot, says whose it is: the one our payment holds,
    or one created for it (our metadata)."""
    return intent.id == payment_intent or (intent.metadata or {}).get("payment_id") == payment_id


async def _acknowledge(
    sessions: async_sessionmaker[AsyncSession],
    event_id: str,
    kind: str,
    intent_id: str,
    why: str,
    now: datetime,
) -> str:
    """Record the event id with no effect: a signed event that can never apply to us is
    answered 200 once (a 503 would have Stripe redeliver it for days), a retry is a duplicate."""
    async with sessions() as session, session.begin():
        first = await _first_time(session, event_id, kind, now)
    if first:
        log.warning("stripe event ignored", event_id=event_id, type=kind, intent=intent_id, why=why)
    return "ignored" if first else "duplicate"


async def handle_event(
    sessions: async_sessionmaker[AsyncSession],
    deps: PaymentDeps,
    event: dict[str, Any],
    *,
    now: datetime,
    reads: AsyncEngine | None = None,
    drivers: DriverPool | None = None,
) -> str:
    """Process one verified event (parse_event's, so of a checked shape); return what
    happened (for logs and tests). `reads` (Runtime.autocommit()) serves the first look-up
    without BEGIN and ROLLBACK round trips; with `drivers` (PostgreSQL) the common settles
    take one statement (payments/settle_pg.py).

    Read (seen before? which payment?), then ask Stripe with no transaction open, then record
    the event id and settle in one short transaction: the id is stored only with its effect,
    so a 503 leaves it for Stripe's redelivery, and of two racing deliveries only the one
    whose insert wins acts."""
    kind: str = event["type"]
    if kind in PAYOUT_EVENTS:
        return await _payout_event(sessions, event, kind, now)
    if kind not in HANDLED:
        return "ignored"
    event_id: str = event["id"]
    obj: dict[str, Any] = event["data"]["object"]
    intent_id = _intent_id(kind, obj)
    named = (obj.get("metadata") or {}).get("payment_id")
    row: Payment | None = None
    ours: tuple[str, str | None] | None = None
    if drivers is not None and named and intent_id:
        # one round trip; a payment settled for good is answered here (Stripe cannot change it)
        done, row = await settle_pg.look_up(drivers, event_id, kind, str(named), intent_id, now=now)
        if done is not None:
            return done
    if row is not None:
        seen, ours = False, (row.id, row.intent_id)
    elif reads is not None:  # also a named payment we do not hold: then the intent says whose
        async with reads.connect() as connection:
            seen, ours, row = await _look_up(connection, event_id, obj, intent_id)
    else:
        async with sessions() as session:
            seen, ours, row = await _look_up(session, event_id, obj, intent_id)
    if seen:
        return "duplicate"
    if ours is None or not intent_id:
        return await _acknowledge(sessions, event_id, kind, intent_id, "no payment of ours", now)
    payment_id, payment_intent = ours
    dispute = None
    async with upstream():  # Stripe unreachable: 503 and Stripe delivers again later
        try:
            intent = await require_gateway(deps).retrieve_intent(intent_id)
            if kind == "charge.dispute.created":
                dispute = await require_gateway(deps).retrieve_dispute(obj["id"])
        except GatewayNotFound:  # asking again will not make it exist
            return await _acknowledge(sessions, event_id, kind, intent_id, "unknown at Stripe", now)
    if not _ours(intent, payment_id, payment_intent):
        return await _acknowledge(sessions, event_id, kind, intent_id, "not our payment's", now)
    if drivers is not None and row is not None:
        fast = await settle_pg.settle(drivers, event_id, kind, row, intent, now=now)
        if fast is not None:
            return fast
    async with sessions() as session, session.begin():
        if not await _first_time(session, event_id, kind, now):
            return "duplicate"
        outcome = await _apply(session, deps, kind, obj, payment_id, intent, dispute, now)
        reserved = outcome == "settled" and _auto_refund_reserved(session, payment_id)
    if reserved:
        await send_auto_refund(sessions, deps, payment_id, now)
    return outcome


def _auto_refund_reserved(session: AsyncSession, payment_id: str) -> bool:
    """Whether this settle reserved an automatic refund (on_captured notes it in the
    session's info): only then is there one to send now. Asking the database after every
    delivery cost three round trips each; one reserved earlier and left unsent (the process
    stopped between commit and send) is the sweeper's, as it was already when no delivery
    came."""
    return payment_id in session.info.get(AUTO_REFUNDS, ())


async def _payout_event(
    sessions: async_sessionmaker[AsyncSession], event: dict[str, Any], kind: str, now: datetime
) -> str:
    payout_id: str = event["data"]["object"]["id"]
    async with sessions() as session, session.begin():
        if not await _first_time(session, event["id"], kind, now):
            return "duplicate"
        if not payout_id.startswith("po_"):
            return "ignored"
        emit(session, TOPIC_PAYOUT_PAID, {"payout_id": payout_id}, now=now)
    return "payout-import-queued"


def _intent_id(kind: str, obj: dict[str, Any]) -> str:
    if kind.startswith("payment_intent."):
        return str(obj["id"])
    intent_id = str(obj.get("payment_intent") or "")
    if not intent_id and kind == "charge.dispute.created":
        charge = obj.get("charge")
        intent_id = str((charge if isinstance(charge, dict) else {}).get("payment_intent") or "")
    return intent_id


async def _apply(
    session: AsyncSession,
    deps: PaymentDeps,
    kind: str,
    obj: dict[str, Any],
    payment_id: str,
    intent: Intent,
    dispute: Dispute | None,
    now: datetime,
) -> str:
    if kind.startswith("payment_intent."):
        await settle(session, deps, payment_id, intent, actor="system:stripe-webhook", now=now)
        return "settled"
    payment = await lock_payment(session, payment_id)
    if kind == "charge.refunded":
        refund = await record_external_refund(session, payment, intent.amount_refunded, now=now)
        return "refund-recorded" if refund else "refund-known"
    assert dispute is not None
    # The amount is Stripe's, not the event's snapshot; what is disputed and what was refunded
    # together never exceed what was captured.
    room = payment.amount - payment.refunded_amount - payment.disputed_amount
    amount = max(0, min(dispute.amount, room))
    if amount > 0:
        payment.disputed_amount += amount
        await ledger.post(
            session,
            "dispute",
            domain.dispute_postings(amount),
            currency=payment.currency,
            now=now,
            memo=f"dispute {obj.get('id')}: {obj.get('reason') or ''}",
            order_id=payment.order_id,
            payment_id=payment.id,
        )
    incident(
        session,
        payment,
        "dispute",
        f"dispute {dispute.id}: {dispute.amount} claimed, {amount} booked",
        now,
    )
    return "dispute-recorded"
