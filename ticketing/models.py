"""Ticketing tables: calendars, queues, agents' capacity, SLA policies, tickets with their
orders, comments, timeline, append-only clock events, escalations (one row per ticket, clock,
level) and follow-up tasks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, UtcDateTime, id_column


class BusinessCalendar(Base):
    __tablename__ = "ticket_calendars"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(60), unique=True)
    zone: Mapped[str] = mapped_column(String(60))
    hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    holidays: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TicketQueue(Base):
    __tablename__ = "ticket_queues"

    id: Mapped[str] = id_column()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    supervisor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    calendar_id: Mapped[str] = mapped_column(ForeignKey("ticket_calendars.id"))
    categories: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class AgentCapacity(Base):
    """Ticketing's view of an auth agent (keyed by agents.id): availability and cap."""

    __tablename__ = "ticket_agents"

    agent_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean)
    cap: Mapped[int] = mapped_column(Integer)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class QueueMember(Base):
    __tablename__ = "ticket_queue_members"

    id: Mapped[str] = id_column()
    queue_id: Mapped[str] = mapped_column(ForeignKey("ticket_queues.id"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("ticket_agents.agent_id"), index=True)

    __table_args__ = (UniqueConstraint("queue_id", "agent_id"),)


class SlaPolicy(Base):
    __tablename__ = "sla_policies"

    id: Mapped[str] = id_column()
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    first_response_s: Mapped[int] = mapped_column(Integer)
    next_response_s: Mapped[int] = mapped_column(Integer)
    resolution_s: Mapped[int] = mapped_column(Integer)
    followup_s: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("category", "priority"),)


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[str] = id_column()
    number: Mapped[str] = mapped_column(String(16), unique=True)
    category: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str] = mapped_column(String(32), index=True)
    queue_id: Mapped[str] = mapped_column(ForeignKey("ticket_queues.id"))
    assignee_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Snapshots: later edits of the policy or the calendar never rewrite this ticket's clocks.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    calendar: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    satisfaction_source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # What opened it when the system did ("shipment_failed:<id>"): one ticket per such fact.
    source_key: Mapped[str | None] = mapped_column(String(80), unique=True, nullable=True)
    # The earliest moment a current clock cycle breached or will breach if nothing changes
    # (recomputed with every clock event), so `breached=` is a WHERE clause: breach_at <= now.
    breach_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # When the escalation job should look at this ticket next (NULL: no running clock).
    check_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (
        Index("ix_tickets_check_at", "check_at"),
        Index("ix_tickets_queue_status", "queue_id", "status"),
    )


class TicketOrder(Base):
    __tablename__ = "ticket_orders"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    order_id: Mapped[str] = mapped_column(String(32), index=True)

    __table_args__ = (UniqueConstraint("ticket_id", "order_id"),)


class TicketComment(Base):
    __tablename__ = "ticket_comments"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    author: Mapped[str] = mapped_column(String(48))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TicketEvent(Base):
    """The timeline: every change with actor, channel, before and after."""

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    public: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ClockSegment(Base):
    """Append-only: from `at` on, `clock` is started/paused/resumed/stopped.

    `seq` orders events of one ticket that share an instant (a ticket opened and answered in
    the same second starts and stops its first-response clock at one `at`); timestamps alone
    leave that order to the database.
    """

    __tablename__ = "ticket_clock_events"
    __table_args__ = (UniqueConstraint("ticket_id", "seq"),)

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    clock: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Escalation(Base):
    """At most one row per (ticket, clock, cycle, level): the unique key makes the fire exactly
    once. `cycle` is the seq of the clock's `start` event, so a clock that starts again (the
    next-response clock after every customer reply) escalates again."""

    __tablename__ = "ticket_escalations"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"))
    clock: Mapped[str] = mapped_column(String(20))
    cycle: Mapped[int] = mapped_column(Integer)
    level: Mapped[str] = mapped_column(String(10))
    notified: Mapped[list[str]] = mapped_column(JSON)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("ticket_id", "clock", "cycle", "level"),)


class AgentNotification(Base):
    """An agent's inbox entry: one per notified agent of an escalation, written in the fire's
    transaction so a level that fired always reached someone's inbox."""

    __tablename__ = "ticket_notifications"
    __table_args__ = (Index("ix_ticket_notifications_agent_created", "agent_id", "created_at"),)

    id: Mapped[str] = id_column()
    agent_id: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"))
    escalation_id: Mapped[str] = mapped_column(ForeignKey("ticket_escalations.id"))
    kind: Mapped[str] = mapped_column(String(20))
    clock: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class FollowUp(Base):
    __tablename__ = "ticket_followups"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TicketRefund(Base):
    """A refund decided on this ticket (the payments refund id it names)."""

    __tablename__ = "ticket_refunds"

    id: Mapped[str] = id_column()
    ticket_id: Mapped[str] = mapped_column(ForeignKey("tickets.id"), index=True)
    refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    decided_by: Mapped[str] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Call(Base):
    """One phone call through the IVR: its menu path, how the caller was verified, the skill
    queue it waited in, the agent who answered, the wrap-up code and how it ended. Written at
    every step, so a caller who hangs up anywhere leaves a complete record."""

    __tablename__ = "voice_calls"

    id: Mapped[str] = id_column()
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(32))
    to_phone: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    language: Mapped[str] = mapped_column(String(5))
    menu_path: Mapped[list[str]] = mapped_column(JSON)
    # none | verified | failed | locked (a wrong PIN twice, or the throttle said no)
    verification: Mapped[str] = mapped_column(String(10))
    verification_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # menu -> waiting -> answered -> ended; menu -> ended
    status: Mapped[str] = mapped_column(String(10), index=True)
    queue: Mapped[str | None] = mapped_column(String(20), nullable=True)
    agent_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    wrap_up_code: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # self_service | hung_up_in_menu | abandoned | handled; the provider's last CallStatus
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    provider_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    wrapped_up_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    __table_args__ = (Index("ix_voice_calls_queue_status", "queue", "status"),)
