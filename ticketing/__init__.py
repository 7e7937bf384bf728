"""Ticketing: complaint tickets, SLA clocks on business calendars, escalation, assignment,
follow-up and satisfaction, reports. The public surface api/ (and the SMS channel) may use."""

from __future__ import annotations

from ticketing.calendar import DEFAULT_HOURS
from ticketing.domain import DEFAULT_FOLLOWUP_SECONDS, DEFAULT_TARGETS
from ticketing.schemas import (
    AgentIn,
    AssignmentIn,
    CalendarIn,
    CommentIn,
    FollowUpAttemptIn,
    PolicyIn,
    QueueIn,
    RefundNoteIn,
    SatisfactionIn,
    TicketIn,
    TransitionIn,
)

from .assignment import assign, drain_for_agent, drain_queue
from .board import AgentBoard, QueueBoard, agent_boards, followups_due, queue_boards
from .calendar import Calendar, add_business_seconds, business_seconds, make_calendar
from .calls import CallNote, add_call_note, call_notes_for
from .domain import CATEGORIES, CHANNELS, PRIORITIES, TRANSITIONS, Status
from .escalation import TOPIC_TICKET_ESCALATED, EscalationRun, escalate_due, escalation_job
from .followup import record_attempt, record_satisfaction
from .intake import open_system_ticket
from .listing import check_refund_ticket, find_by_number, list_tickets, note_refund
from .models import Ticket
from .notifications import announce_escalation, list_notifications, mark_read
from .reports import report_csv, ticket_report
from .service import (
    add_comment,
    get_for,
    open_ticket,
    transition,
)
from .setup import set_agent, set_policy, upsert_calendar, upsert_queue
from .survey import SmsReply, handle_sms_reply, send_survey
from .views import ticket_view

# Every outbox topic this room emits; api/outbox_routes.py refuses to start without a route.
TOPICS = frozenset({TOPIC_TICKET_ESCALATED})

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DEFAULT_FOLLOWUP_SECONDS",
    "DEFAULT_HOURS",
    "DEFAULT_TARGETS",
    "PRIORITIES",
    "TOPICS",
    "TOPIC_TICKET_ESCALATED",
    "TRANSITIONS",
    "AgentBoard",
    "AgentIn",
    "AssignmentIn",
    "Calendar",
    "CalendarIn",
    "CallNote",
    "CommentIn",
    "EscalationRun",
    "FollowUpAttemptIn",
    "PolicyIn",
    "QueueBoard",
    "QueueIn",
    "RefundNoteIn",
    "SatisfactionIn",
    "SmsReply",
    "Status",
    "Ticket",
    "TicketIn",
    "TransitionIn",
    "add_business_seconds",
    "add_call_note",
    "add_comment",
    "agent_boards",
    "announce_escalation",
    "assign",
    "business_seconds",
    "call_notes_for",
    "check_refund_ticket",
    "drain_for_agent",
    "drain_queue",
    "escalate_due",
    "escalation_job",
    "find_by_number",
    "followups_due",
    "get_for",
    "handle_sms_reply",
    "list_notifications",
    "list_tickets",
    "make_calendar",
    "mark_read",
    "note_refund",
    "open_system_ticket",
    "open_ticket",
    "queue_boards",
    "record_attempt",
    "record_satisfaction",
    "report_csv",
    "send_survey",
    "set_agent",
    "set_policy",
    "ticket_report",
    "ticket_view",
    "transition",
    "upsert_calendar",
    "upsert_queue",
]
