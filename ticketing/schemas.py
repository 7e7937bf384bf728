"""Request bodies of the ticketing routes (msgspec; decoded strictly by api/)."""

from __future__ import annotations

from datetime import date

import msgspec


class TicketIn(msgspec.Struct, forbid_unknown_fields=True):
    category: str
    subject: str
    description: str
    priority: str = "normal"
    channel: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    order_ids: list[str] = []
    queue: str | None = None


class CommentIn(msgspec.Struct, forbid_unknown_fields=True):
    body: str
    public: bool = True


class TransitionIn(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    reason: str | None = None


class AssignmentIn(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: str | None = None
    queue: str | None = None


class SatisfactionIn(msgspec.Struct, forbid_unknown_fields=True):
    score: int


class FollowUpAttemptIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: str
    note: str | None = None
    score: int | None = None


class RefundNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    refund_id: str


class AgentIn(msgspec.Struct, forbid_unknown_fields=True):
    available: bool
    cap: int
    queues: list[str] = []


class PolicyIn(msgspec.Struct, forbid_unknown_fields=True):
    category: str
    priority: str
    first_response_s: int
    next_response_s: int
    resolution_s: int
    followup_s: int = 8 * 3600


class CalendarIn(msgspec.Struct, forbid_unknown_fields=True):
    zone: str
    hours: dict[int, list[tuple[int, int]]]
    holidays: list[date] = []


class QueueIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    calendar: str
    categories: list[str] = []
    supervisor_id: str | None = None
