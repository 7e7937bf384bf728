"""Use cases of fulfillment: shipments for paid orders, signed dispatch with durable retries,
partner callbacks, dead letters.

Dispatch is the one use case that manages its own transactions: the shipment is claimed (a
lease) and committed BEFORE the partner is called, and the answer is recorded in a second
transaction, so no database lock is held across a slow partner and a worker killed mid-call
leaves a lease that simply expires. Retries are durable: each one is an outbox message with a
future `available_at`, plus a watchdog sweep for anything a dead worker dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock
from core.errors import InvalidTransition, ValidationFailed
from core.outbox import emit
from core.text import check_plain_text
from fulfillment import metrics
from fulfillment.dead_letters import dead_letter_order
from fulfillment.domain import Outcome, RetryPolicy, ShipmentStatus, classify, eticket_text
from fulfillment.errors import NoPartnerForDelivery
from fulfillment.models import DeadLetter, Partner, PartnerPayable, Shipment, ShipmentEvent
from fulfillment.partners import DispatchResult, PartnerClient
from fulfillment.schemas import OrderSnapshot, PartnerIn
from payments import domain as payments_domain
from payments import ledger

log = structlog.get_logger("hotline.fulfillment")

TOPIC_DISPATCH = "fulfillment.dispatch"
TOPIC_ORDER_PAID = "order.paid"  # emitted by commerce.mark_paid
DELIVERY_COST = "delivery_cost"  # expense
PARTNER_PAYABLE = "partner_payable"  # liability: owed to delivery partners
TOPIC_SHIPMENT_FAILED = "fulfillment.shipment_failed"
KINDS = ("http", "eticket")
METHODS = ("courier", "eticket")


class OrderGateway(Protocol):
    """The commerce side as fulfillment needs it (see fulfillment.orders)."""

    async def snapshot(self, session: AsyncSession, order_id: str) -> OrderSnapshot | None: ...

    async def mark(self, session: AsyncSession, order_id: str, to: str, *, now: datetime) -> None:
        """Move the order to `fulfilling` or `fulfilled`; a no-op when it is already there."""


class SmsPort(Protocol):
    async def send(
        self,
        session: AsyncSession,
        to: str,
        body: str,
        *,
        purpose: str,
        order_id: str | None = None,
    ) -> Any: ...


@dataclass
class FulfillmentContext:
    """What a job needs, built once per process from the Runtime."""

    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    orders: OrderGateway
    client: PartnerClient
    sms: SmsPort | None = None
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    rng: random.Random = field(default_factory=random.Random)


# ---------------------------------------------------------------- partners


async def register_partner(
    session: AsyncSession, data: PartnerIn, *, currency: str, now: datetime
) -> Partner:
    """Add a delivery partner (admin). Its secret signs both our dispatches and its callbacks."""
    if data.kind not in KINDS:
        raise ValidationFailed.field("kind", f"must be one of {', '.join(KINDS)}")
    method = data.delivery_method or ("eticket" if data.kind == "eticket" else "courier")
    if method not in METHODS:
        raise ValidationFailed.field("delivery_method", "must be courier or eticket")
    if data.kind == "http" and not data.endpoint_url.startswith(("http://", "https://")):
        raise ValidationFailed.field("endpoint_url", "must be an http(s) URL")
    if len(data.secret) < 16:
        raise ValidationFailed.field("secret", "must be at least 16 characters")
    if not data.code or len(data.code) > 40:
        raise ValidationFailed.field("code", "must be 1-40 characters")
    check_plain_text("name", data.name)
    if data.cost_minor < 0:
        raise ValidationFailed.field("cost_minor", "must not be negative")
    if await session.scalar(select(Partner.id).where(Partner.code == data.code)):
        raise ValidationFailed.field("code", "already registered")
    partner = Partner(
        code=data.code,
        name=data.name,
        kind=data.kind,
        delivery_method=method,
        endpoint_url=data.endpoint_url,
        secret=data.secret,
        cost_minor=data.cost_minor,
        currency=currency,
        active=True,
        created_at=now,
    )
    session.add(partner)
    await session.flush()
    return partner


async def partner_for(session: AsyncSession, method: str) -> Partner:
    partner = await session.scalar(
        select(Partner)
        .where(Partner.delivery_method == method, Partner.active.is_(True))
        .order_by(Partner.created_at, Partner.code)
        .limit(1)
    )
    if partner is None:
        raise NoPartnerForDelivery(f"no active partner delivers by {method}")
    return partner


# ---------------------------------------------------------------- shipments


def _event(shipment: Shipment, status: str, source: str, at: datetime, **kw: Any) -> ShipmentEvent:
    return ShipmentEvent(
        shipment_id=shipment.id, status=status, source=source, occurred_at=at, recorded_at=at, **kw
    )


async def create_shipments(
    session: AsyncSession, snapshot: OrderSnapshot, *, now: datetime, policy: RetryPolicy
) -> list[Shipment]:
    """One shipment per paid order (by its delivery method), enqueued through the outbox in the
    caller's transaction. Idempotent: a second call returns the existing shipments."""
    existing = list(
        await session.scalars(select(Shipment).where(Shipment.order_id == snapshot.order_id))
    )
    if existing:
        return existing
    partner = await partner_for(session, snapshot.delivery_method)
    shipment = Shipment(
        order_id=snapshot.order_id,
        partner_id=partner.id,
        status=ShipmentStatus.PENDING.value,
        language=snapshot.language if snapshot.language in ("zh", "en") else "zh",
        attempts=0,
        dead_lettered=False,
        next_attempt_at=now + timedelta(seconds=policy.watchdog_seconds),
        created_at=now,
        updated_at=now,
        request={},
    )
    session.add(shipment)
    await session.flush()
    shipment.request = snapshot.dispatch_body(shipment.id)
    session.add(_event(shipment, ShipmentStatus.PENDING.value, "hotline", now))
    emit(session, TOPIC_DISPATCH, {"shipment_id": shipment.id}, now=now)
    return [shipment]


async def handle_order_paid(ctx: FulfillmentContext, order_id: str) -> int:
    """Job for outbox `order.paid`: create the shipments and mark the order `fulfilling`.

    No active partner for the order's delivery method is not worth retrying (it needs an
    admin), so the order lands in our dead-letter list at once, in this transaction, and is
    replayed from there once a partner exists; the order stays `paid` meanwhile."""
    try:
        async with ctx.sessions() as session, session.begin():
            now = ctx.clock.now()
            snapshot = await ctx.orders.snapshot(session, order_id)
            if snapshot is None:
                log.warning("paid order not found", order_id=order_id)
                return 0
            if not snapshot.shippable:  # cancelled (and refunded) before the job ran
                log.info("order no longer ships", order_id=order_id, status=snapshot.status)
                return 0
            try:
                shipments = await create_shipments(session, snapshot, now=now, policy=ctx.policy)
            except NoPartnerForDelivery as exc:  # raised before anything was added
                await dead_letter_order(
                    session,
                    order_id,
                    "no_partner",
                    error=exc.detail,
                    delivery_method=snapshot.delivery_method,
                    now=now,
                )
                return 0
            await ctx.orders.mark(session, order_id, "fulfilling", now=now)
            return len(shipments)
    except IntegrityError:  # a concurrent duplicate job won the race; its shipment stands
        return 0
    except InvalidTransition:
        # Cancelled between our read and the move to `fulfilling` (commerce moves orders by
        # conditional update): the shipments roll back with this transaction, nothing ships.
        log.info("order cancelled while shipping", order_id=order_id)
        return 0


async def _claim(ctx: FulfillmentContext, shipment_id: str) -> tuple[Shipment, Partner] | None:
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        claimed = await session.execute(
            update(Shipment)
            .where(
                Shipment.id == shipment_id,
                Shipment.status == ShipmentStatus.PENDING.value,
                Shipment.dead_lettered.is_(False),
                or_(Shipment.lease_until.is_(None), Shipment.lease_until < now),
            )
            .values(
                lease_until=now + timedelta(seconds=ctx.policy.lease_seconds),
                attempts=Shipment.attempts + 1,
                updated_at=now,
            )
        )
        if claimed.rowcount == 0:  # type: ignore[attr-defined]
            return None
        shipment = await session.get_one(Shipment, shipment_id)
        partner = await session.get_one(Partner, shipment.partner_id)
        return shipment, partner


async def dispatch(ctx: FulfillmentContext, shipment_id: str) -> str:
    """Job for `fulfillment.dispatch`: send one shipment to its partner, once in effect."""
    claimed = await _claim(ctx, shipment_id)
    if claimed is None:
        return "skipped"  # delivered already, dead-lettered, or another worker holds it
    shipment, partner = claimed
    if partner.kind == "eticket":
        return await send_eticket(ctx, shipment, partner)
    result = await ctx.client.dispatch(
        partner.endpoint_url,
        partner.secret,
        shipment.id,
        shipment.request,
        int(ctx.clock.now().timestamp()),
    )
    async with ctx.sessions() as session, session.begin():
        return await record(ctx, session, shipment.id, partner, result)


async def send_eticket(ctx: FulfillmentContext, shipment: Shipment, partner: Partner) -> str:
    """The codes go out as an SMS queued in this transaction (the `sms.send` job texts it after
    the commit and retries the provider itself); the shipment is delivered once it is queued."""
    async with ctx.sessions() as session, session.begin():
        if ctx.sms is None:
            result = DispatchResult(None, error="no SMS port configured")
        else:
            body = eticket_text(shipment.request, shipment.language)
            phone = shipment.request["recipient"]["phone"]
            try:
                await ctx.sms.send(
                    session, phone, body, purpose="eticket", order_id=shipment.order_id
                )
                result = DispatchResult(200, tracking_number=f"SMS-{shipment.id[:12]}")
            except Exception as exc:  # the port could not queue it: retried like a timeout
                result = DispatchResult(None, error=f"sms: {type(exc).__name__}")
        return await record(ctx, session, shipment.id, partner, result)


async def record(
    ctx: FulfillmentContext,
    session: AsyncSession,
    shipment_id: str,
    partner: Partner,
    result: DispatchResult,
) -> str:
    now = ctx.clock.now()
    shipment = await session.scalar(
        select(Shipment).where(Shipment.id == shipment_id).with_for_update()
    )
    assert shipment is not None
    outcome = classify(result.status_code)
    metrics.DISPATCH_ATTEMPTS.labels(partner.code, outcome.value).inc()
    shipment.lease_until = None
    shipment.updated_at = now
    if outcome is Outcome.ACCEPTED:
        shipment.tracking_number = result.tracking_number or shipment.tracking_number
        shipment.next_attempt_at = None
        shipment.last_error = None
        if shipment.status == ShipmentStatus.PENDING.value:
            shipment.status = ShipmentStatus.DISPATCHED.value
            shipment.dispatched_at = now
            session.add(_event(shipment, shipment.status, "hotline", now))
            metrics.DISPATCH_LATENCY.observe(max(0.0, (now - shipment.created_at).total_seconds()))
        await _book_payable(session, shipment, partner, now)
        if partner.kind == "eticket":
            await move_shipment(
                session, shipment, ShipmentStatus.DELIVERED, now, ctx.orders, "hotline"
            )
        return "dispatched"
    if shipment.status != ShipmentStatus.PENDING.value:
        return "superseded"  # a callback moved it on while we were waiting
    shipment.last_error = (result.error or "")[:500]
    if outcome is Outcome.PERMANENT:
        shipment.status = ShipmentStatus.FAILED.value
        shipment.next_attempt_at = None
        session.add(_event(shipment, shipment.status, "hotline", now, note=shipment.last_error))
        # Raised to supervisors: ticketing (or an alert) subscribes to this outbox topic.
        emit(session, TOPIC_SHIPMENT_FAILED, {"shipment_id": shipment.id}, now=now)
        metrics.DISPATCH_FAILURES.labels(partner.code).inc()
        log.warning("shipment failed permanently", shipment_id=shipment.id, error=result.error)
        return "failed"
    if shipment.attempts >= ctx.policy.max_attempts:
        shipment.dead_lettered = True
        shipment.next_attempt_at = None
        session.add(
            DeadLetter(
                shipment_id=shipment.id,
                order_id=shipment.order_id,
                reason="retries_exhausted",
                partner_code=partner.code,
                attempts=shipment.attempts,
                last_error=shipment.last_error,
                created_at=now,
            )
        )
        metrics.DEAD_LETTERS.labels(partner.code).inc()
        log.warning("shipment dead-lettered", shipment_id=shipment.id, error=result.error)
        return "dead-lettered"
    delay = ctx.policy.delay(shipment.attempts, result.retry_after, ctx.rng)
    due = now + timedelta(seconds=delay)
    shipment.next_attempt_at = due + timedelta(seconds=ctx.policy.watchdog_seconds)
    emit(session, TOPIC_DISPATCH, {"shipment_id": shipment.id}, now=now, available_at=due)
    metrics.DISPATCH_RETRIES.labels(partner.code).inc()
    return "retry"


async def _book_payable(
    session: AsyncSession, shipment: Shipment, partner: Partner, now: datetime
) -> None:
    """The delivery cost owed to the partner, once per shipment."""
    if partner.cost_minor <= 0:
        return
    if await session.scalar(
        select(PartnerPayable.id).where(PartnerPayable.shipment_id == shipment.id)
    ):
        return
    session.add(
        PartnerPayable(
            shipment_id=shipment.id,
            partner_id=partner.id,
            amount_minor=partner.cost_minor,
            currency=partner.currency,
            created_at=now,
        )
    )
    # The same fact in the payments room's double-entry ledger, for finance.
    await ledger.post(
        session,
        "partner_delivery_cost",
        [
            payments_domain.Posting(DELIVERY_COST, partner.cost_minor),
            payments_domain.Posting(PARTNER_PAYABLE, -partner.cost_minor),
        ],
        currency=partner.currency,
        now=now,
        memo=f"delivery by {partner.code}, shipment {shipment.id}",
        order_id=shipment.order_id,
    )


async def move_shipment(
    session: AsyncSession,
    shipment: Shipment,
    to: ShipmentStatus,
    at: datetime,
    orders: OrderGateway,
    source: str,
) -> None:
    """Apply a state change already judged valid, and close the order when all is delivered."""
    shipment.status = to.value
    shipment.last_event_at = at
    shipment.updated_at = at
    session.add(_event(shipment, to.value, source, at))
    if to == ShipmentStatus.DELIVERED:
        await session.flush()
        statuses = await session.scalars(
            select(Shipment.status).where(Shipment.order_id == shipment.order_id)
        )
        if all(s == ShipmentStatus.DELIVERED.value for s in statuses):
            await orders.mark(session, shipment.order_id, "fulfilled", now=at)


async def sweep_due(ctx: FulfillmentContext, limit: int = 200) -> int:
    """Watchdog (periodic): re-enqueue pending shipments nobody is working on, e.g. after a
    worker was killed mid-dispatch. Safe in several processes: each row is bumped with a
    conditional update before its message is emitted."""
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        due = list(
            await session.execute(
                select(Shipment.id, Shipment.next_attempt_at)
                .where(
                    Shipment.status == ShipmentStatus.PENDING.value,
                    Shipment.dead_lettered.is_(False),
                    Shipment.next_attempt_at <= now,
                    or_(Shipment.lease_until.is_(None), Shipment.lease_until < now),
                )
                .limit(limit)
            )
        )
        count = 0
        for shipment_id, seen in due:
            bumped = await session.execute(
                update(Shipment)
                .where(Shipment.id == shipment_id, Shipment.next_attempt_at == seen)
                .values(next_attempt_at=now + timedelta(seconds=ctx.policy.watchdog_seconds))
            )
            if bumped.rowcount:  # type: ignore[attr-defined]
                emit(session, TOPIC_DISPATCH, {"shipment_id": shipment_id}, now=now)
                count += 1
        return count
