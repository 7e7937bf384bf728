"""Use cases around what happens after dispatch: signed partner callbacks, shipment views for
customers and agents, and the dead-letter list with replay (admin)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.dates import check_in_window
from core.drivers import as_rows
from core.errors import TOO_DEEP, Conflict, NotFound, ValidationFailed
from core.outbox import emit
from core.sms_delivery import requeue_failed
from core.text import check_plain_text
from fulfillment.domain import (
    PARTNER_SETTABLE,
    RetryPolicy,
    ShipmentStatus,
    callback_outcome,
    verify_signature,
)
from fulfillment.errors import AlreadyReplayed, BadPartnerSignature, MalformedCallback
from fulfillment.models import DeadLetter, Partner, PartnerCallback, Shipment, ShipmentEvent
from fulfillment.schemas import (
    DeadLetterOut,
    PartnerCallbackIn,
    ShipmentOut,
    TrackingEventOut,
)
from fulfillment.service import (
    TOPIC_DISPATCH,
    TOPIC_ORDER_PAID,
    OrderGateway,
    move_shipment,
    partner_for,
)

# msgspec names the member it refused as `$.event_id`: the 422 names it as `event_id`.
_FIELD = re.compile(r"at `\$\.([A-Za-z_]+)`")


async def apply_partner_callback(
    session: AsyncSession,
    partner_code: str,
    raw_body: bytes,
    signature: str | None,
    *,
    now: datetime,
    orders: OrderGateway,
) -> str:
    """Verify, deduplicate by event_id, and apply a partner's status update if it is progress.

    Returns `applied`, `stale` (older than the last applied update), `ignored` (backwards or
    sideways) or `duplicate` (event_id seen before). Unknown partners and bad signatures are
    refused identically so the endpoint does not reveal which partner codes exist.
    """
    partner = await session.scalar(select(Partner).where(Partner.code == partner_code))
    if partner is None:
        raise BadPartnerSignature("signature not valid")
    problem = verify_signature(partner.secret, raw_body, signature, int(now.timestamp()))
    if problem is not None:
        raise BadPartnerSignature(problem)
    try:
        data = msgspec.json.decode(raw_body, type=PartnerCallbackIn)
    except msgspec.ValidationError as exc:
        at = _FIELD.search(str(exc))
        raise ValidationFailed.field(at.group(1) if at else "body", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise MalformedCallback(f"the body is not JSON: {exc}") from None
    except UnicodeDecodeError:  # msgspec raises it, not a DecodeError, for bytes not UTF-8
        raise MalformedCallback("the body is not JSON: not UTF-8") from None
    except RecursionError:  # skipping an unknown member recurses once per level
        raise MalformedCallback(TOO_DEEP) from None
    for name in ("event_id", "shipment_id", "status", "tracking_number"):
        # A signed body may carry any bytes of the partner's; a NUL would fail in PostgreSQL.
        check_plain_text(name, getattr(data, name))
    if data.occurred_at.tzinfo is None:
        raise ValidationFailed.field("occurred_at", "must carry a time zone")
    check_in_window("occurred_at", data.occurred_at)
    try:
        to = ShipmentStatus(data.status)
    except ValueError:
        raise ValidationFailed.field("status", "unknown status") from None
    if to not in PARTNER_SETTABLE:
        raise ValidationFailed.field("status", "not settable by a partner")
    shipment = await session.scalar(
        select(Shipment)
        .where(Shipment.id == data.shipment_id, Shipment.partner_id == partner.id)
        .with_for_update()
    )
    if shipment is None:
        raise NotFound("shipment not found")
    seen = await session.scalar(
        select(PartnerCallback.id).where(
            PartnerCallback.partner_id == partner.id, PartnerCallback.event_id == data.event_id
        )
    )
    if seen:
        return "duplicate"
    occurred = data.occurred_at
    outcome = callback_outcome(
        ShipmentStatus(shipment.status), to, occurred, shipment.last_event_at
    )
    try:
        async with session.begin_nested():
            session.add(
                PartnerCallback(
                    partner_id=partner.id,
                    event_id=data.event_id,
                    shipment_id=shipment.id,
                    status=to.value,
                    outcome=outcome,
                    received_at=now,
                )
            )
    except IntegrityError:  # the same event delivered twice at once
        return "duplicate"
    if data.tracking_number and not shipment.tracking_number:
        shipment.tracking_number = data.tracking_number[:100]
    if outcome == "applied":
        if shipment.status == ShipmentStatus.PENDING.value:
            shipment.dispatched_at = shipment.dispatched_at or now
            shipment.next_attempt_at = None
        await move_shipment(session, shipment, to, occurred, orders, "partner")
    else:
        session.add(
            ShipmentEvent(
                shipment_id=shipment.id,
                status=to.value,
                source="partner",
                applied=False,
                note=outcome,
                occurred_at=occurred,
                recorded_at=now,
            )
        )
    return outcome


async def shipments_for_orders(
    session: AsyncSession, order_ids: list[str]
) -> dict[str, list[ShipmentOut]]:
    """Shipments of several orders with their tracking, in two queries (a caller's history
    on one screen; authorization is the caller's)."""
    out: dict[str, list[ShipmentOut]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return out
    rows = (
        await session.execute(
            select(Shipment, Partner.code)
            .join(Partner, Partner.id == Shipment.partner_id)
            .where(Shipment.order_id.in_(order_ids))
            .order_by(Shipment.created_at)
        )
    ).all()
    events: dict[str, list[TrackingEventOut]] = {shipment.id: [] for shipment, _ in rows}
    if events:
        for e in await session.scalars(
            select(ShipmentEvent)
            .where(ShipmentEvent.shipment_id.in_(list(events)))
            .order_by(ShipmentEvent.recorded_at, ShipmentEvent.occurred_at)
        ):
            events[e.shipment_id].append(
                TrackingEventOut(
                    status=e.status,
                    source=e.source,
                    applied=e.applied,
                    occurred_at=e.occurred_at,
                    note=e.note,
                )
            )
    for shipment, code in rows:
        out[shipment.order_id].append(
            ShipmentOut(
                id=shipment.id,
                order_id=shipment.order_id,
                partner_code=code,
                status=shipment.status,
                tracking_number=shipment.tracking_number,
                attempts=shipment.attempts,
                dead_lettered=shipment.dead_lettered,
                created_at=shipment.created_at,
                dispatched_at=shipment.dispatched_at,
                events=events[shipment.id],
            )
        )
    return out


async def shipment_lines_on(driver: Any, order_ids: list[str]) -> dict[str, list[Any]]:
    """The shipments of several orders as one history line each (partner, status, tracking;
    no tracking events) on an asyncpg connection (core.drivers), as rows read by attribute:
    `shipments_for_orders` without the events, for the caller's record."""
    out: dict[str, list[Any]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        for s in as_rows(
            await driver.fetch(
                "SELECT s.id, s.order_id, p.code AS partner_code, s.status, s.tracking_number,"
                " s.created_at FROM shipments s JOIN partners p ON p.id = s.partner_id"
                " WHERE s.order_id = ANY($1::text[]) ORDER BY s.created_at",
                order_ids,
            )
        ):
            out[s.order_id].append(s)
    return out


async def order_shipments(session: AsyncSession, order_id: str) -> list[ShipmentOut]:
    """Shipments of one order with their tracking events (authorization is the caller's)."""
    rows = (
        await session.execute(
            select(Shipment, Partner.code)
            .join(Partner, Partner.id == Shipment.partner_id)
            .where(Shipment.order_id == order_id)
            .order_by(Shipment.created_at)
        )
    ).all()
    out: list[ShipmentOut] = []
    for shipment, code in rows:
        events = await session.scalars(
            select(ShipmentEvent)
            .where(ShipmentEvent.shipment_id == shipment.id)
            .order_by(ShipmentEvent.recorded_at, ShipmentEvent.occurred_at)
        )
        out.append(
            ShipmentOut(
                id=shipment.id,
                order_id=shipment.order_id,
                partner_code=code,
                status=shipment.status,
                tracking_number=shipment.tracking_number,
                attempts=shipment.attempts,
                dead_lettered=shipment.dead_lettered,
                created_at=shipment.created_at,
                dispatched_at=shipment.dispatched_at,
                events=[
                    TrackingEventOut(
                        status=e.status,
                        source=e.source,
                        applied=e.applied,
                        occurred_at=e.occurred_at,
                        note=e.note,
                    )
                    for e in events
                ],
            )
        )
    return out


def _dead_out(d: DeadLetter) -> DeadLetterOut:
    return DeadLetterOut(
        id=d.id,
        reason=d.reason,
        shipment_id=d.shipment_id,
        order_id=d.order_id,
        partner_code=d.partner_code,
        attempts=d.attempts,
        last_error=d.last_error,
        created_at=d.created_at,
        replayed_at=d.replayed_at,
        sms_id=d.sms_id,
    )


async def list_dead_letters(
    session: AsyncSession, *, include_replayed: bool = False, limit: int = 100
) -> list[DeadLetterOut]:
    query = select(DeadLetter).order_by(DeadLetter.created_at.desc()).limit(limit)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return [_dead_out(d) for d in await session.scalars(query)]


async def replay_dead_letter(
    session: AsyncSession, dead_letter_id: str, *, now: datetime, policy: RetryPolicy
) -> DeadLetterOut:
    """Give a dead-lettered shipment a fresh set of attempts (same shipment id, same body),
    or run `order.paid` again for a paid order that never got a shipment; for one that had no
    partner, refuse (409 no-partner, left open) until a partner for its method is active."""
    dead = await session.scalar(
        select(DeadLetter).where(DeadLetter.id == dead_letter_id).with_for_update()
    )
    if dead is None:
        raise NotFound("dead letter not found")
    if dead.replayed_at is not None:
        raise AlreadyReplayed()
    if dead.sms_id is not None:
        if not await requeue_failed(session, dead.sms_id, now):
            raise Conflict("this text cannot be sent again (it is not failed, or was a secret)")
        dead.replayed_at = now
        return _dead_out(dead)
    if dead.shipment_id is None:
        if dead.delivery_method:
            await partner_for(session, dead.delivery_method)
        dead.replayed_at = now
        emit(session, TOPIC_ORDER_PAID, {"order_id": dead.order_id}, now=now)
        return _dead_out(dead)
    shipment = await session.get_one(Shipment, dead.shipment_id, with_for_update=True)
    dead.replayed_at = now
    shipment.dead_lettered = False
    shipment.attempts = 0
    shipment.lease_until = None
    shipment.next_attempt_at = now + timedelta(seconds=policy.watchdog_seconds)
    shipment.updated_at = now
    emit(session, TOPIC_DISPATCH, {"shipment_id": shipment.id}, now=now)
    return _dead_out(dead)
