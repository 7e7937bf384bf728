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
from .call_notes import CallNote, add_call_note, call_notes_for, call_notes_on
from .call_stats import QueueStats, queue_stats
from .calls import (
    QUEUES as CALL_QUEUES,
)
from .calls import (
    CallView,
    active_call,
    answer_call,
    call_view,
    end_call,
    enqueue_call,
    find_call,
    get_call,
    list_calls,
    note_step,
    open_call,
    open_complaints,
    wrap_up_call,
)
from .calls_pg import end_call_on, enqueue_call_on, note_step_on, open_call_on
from .contact_pg import Contacts, contacts_from, contacts_on, contacts_sql
from .domain import CATEGORIES, CHANNELS, PRIORITIES, TRANSITIONS, Status
from .escalation import escalate_due, escalation_job
from .escalation_plan import TOPIC_TICKET_ESCALATED, EscalationRun
from .followup import record_attempt, record_satisfaction
from .intake import open_system_ticket
from .listing import (
    awaiting_customer_reply,
    check_refund_ticket,
    find_by_number,
    list_tickets,
    note_refund,
)
from .models import Call, Ticket
from .notifications import announce_escalation, list_notifications, mark_read
from .opening_pg import Opened, TicketOpening
from .reports import report_csv, ticket_report
from .service import (
    add_comment,
    get_for,
    open_ticket,
    transition,
)
from .setup import set_agent, set_policy, upsert_calendar, upsert_queue
from .survey import SmsReply, awaiting_score, handle_sms_reply, send_survey
from .views import customer_tickets_on, ticket_summaries, ticket_view

# Every outbox topic this room emits; api/outbox_routes.py refuses to start without a route.
TOPICS = frozenset({TOPIC_TICKET_ESCALATED})

__all__ = [
    "CALL_QUEUES",
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
    "Call",
    "CallNote",
    "CallView",
    "CommentIn",
    "Contacts",
    "EscalationRun",
    "FollowUpAttemptIn",
    "Opened",
    "PolicyIn",
    "QueueBoard",
    "QueueIn",
    "QueueStats",
    "RefundNoteIn",
    "SatisfactionIn",
    "SmsReply",
    "Status",
    "Ticket",
    "TicketIn",
    "TicketOpening",
    "TransitionIn",
    "active_call",
    "add_business_seconds",
    "add_call_note",
    "add_comment",
    "agent_boards",
    "announce_escalation",
    "answer_call",
    "assign",
    "awaiting_customer_reply",
    "awaiting_score",
    "business_seconds",
    "call_notes_for",
    "call_notes_on",
    "call_view",
    "check_refund_ticket",
    "contacts_from",
    "contacts_on",
    "contacts_sql",
    "customer_tickets_on",
    "drain_for_agent",
    "drain_queue",
    "end_call",
    "end_call_on",
    "enqueue_call",
    "enqueue_call_on",
    "escalate_due",
    "escalation_job",
    "find_by_number",
    "find_call",
    "followups_due",
    "get_call",
    "get_for",
    "handle_sms_reply",
    "list_calls",
    "list_notifications",
    "list_tickets",
    "make_calendar",
    "mark_read",
    "note_refund",
    "note_step",
    "note_step_on",
    "open_call",
    "open_call_on",
    "open_complaints",
    "open_system_ticket",
    "open_ticket",
    "queue_boards",
    "queue_stats",
    "record_attempt",
    "record_satisfaction",
    "report_csv",
    "send_survey",
    "set_agent",
    "set_policy",
    "ticket_report",
    "ticket_summaries",
    "ticket_view",
    "transition",
    "upsert_calendar",
    "upsert_queue",
    "wrap_up_call",
]
