"""Tables of the fulfillment room: partners, shipments, their tracking events, partner callback
events (deduplication), dead letters and the partner payables owed for deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # http | eticket
    delivery_method: Mapped[str] = mapped_column(String(16))  # courier | eticket
    endpoint_url: Mapped[str] = mapped_column(String(500), default="")
    secret: Mapped[str] = mapped_column(String(200))
    cost_minor: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Shipment(Base):
    __tablename__ = "shipments"

    id: Mapped[str] = id_column()
    order_id: Mapped[str] = mapped_column(String(32), index=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[str] = mapped_column(String(16))
    # The dispatch body is frozen at creation so every retry sends exactly the same bytes.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    language: Mapped[str] = mapped_column(String(8), default="zh")
    tracking_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    dead_lettered: Mapped[bool] = mapped_column(Boolean, default=False)
    last_event_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        UniqueConstraint("order_id", "partner_id"),
        Index("ix_shipments_due", "status", "next_attempt_at"),
    )


class ShipmentEvent(Base):
    """A tracking event shown to the customer and agents (ours or a partner's callback)."""

    __tablename__ = "shipment_events"

    id: Mapped[str] = id_column()
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # hotline | partner
    applied: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(300), nullable=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class PartnerCallback(Base):
    """Every partner event id seen once; the unique key makes replays harmless."""

    __tablename__ = "partner_callbacks"

    id: Mapped[str] = id_column()
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    event_id: Mapped[str] = mapped_column(String(100))
    shipment_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))  # applied | stale | ignored
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("partner_id", "event_id"),)


class DeadLetter(Base):
    """Work the jobs gave up on, for an admin to see and replay. Either a shipment whose
    dispatch retries ran out (`retries_exhausted`), or a paid order that got no shipment at
    all: no active partner for its delivery method (`no_partner`) or a job that kept failing
    (`job_failed`); those have no shipment and are replayed by running `order.paid` again.
    Also any SMS whose sends ran out (`sms_failed`, replayed by queueing the text again)."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = id_column()
    shipment_id: Mapped[str | None] = mapped_column(
        ForeignKey("shipments.id"), index=True, nullable=True
    )
    order_id: Mapped[str | None] = mapped_column(String(32), index=True, nullable=True)
    reason: Mapped[str] = mapped_column(String(32), default="retries_exhausted")
    # reason `sms_failed`: a text (core.sms) the provider refused or kept failing.
    sms_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivery_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    partner_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    replayed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class PartnerPayable(Base):
    """Delivery cost owed to a partner for one shipment (finance reads it; one per shipment)."""

    __tablename__ = "partner_payables"

    id: Mapped[str] = id_column()
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"), unique=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
