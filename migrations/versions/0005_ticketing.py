"""ticketing room tables: calendars, queues, agent capacity, SLA policies, tickets, their
orders, comments, timeline, append-only clock events, escalations, follow-ups, refunds.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sla_policies',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('first_response_s', sa.Integer(), nullable=False),
    sa.Column('next_response_s', sa.Integer(), nullable=False),
    sa.Column('resolution_s', sa.Integer(), nullable=False),
    sa.Column('followup_s', sa.Integer(), nullable=False),
    sa.Column('updated_at', core.db.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies')),
    sa.UniqueConstraint('category', 'priority', name=op.f('uq_sla_policies_category_priority'))
    )
    op.create_table('ticket_agents',
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('cap', sa.Integer(), nullable=False),
    sa.Column('last_assigned_at', core.db.UtcDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('agent_id', name=op.f('pk_ticket_agents'))
    )
    op.create_table('ticket_calendars',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('zone', sa.String(length=60), nullable=False),
    sa.Column('hours', sa.JSON(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_calendars')),
    sa.UniqueConstraint('name', name=op.f('uq_ticket_calendars_name'))
    )
    op.create_table('ticket_queues',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('supervisor_id', sa.String(length=32), nullable=True),
    sa.Column('calendar_id', sa.String(length=32), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['ticket_calendars.id'], name=op.f('fk_ticket_queues_calendar_id_ticket_calendars')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_queues')),
    sa.UniqueConstraint('code', name=op.f('uq_ticket_queues_code'))
    )
    op.create_table('ticket_queue_members',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['ticket_agents.agent_id'], name=op.f('fk_ticket_queue_members_agent_id_ticket_agents')),
    sa.ForeignKeyConstraint(['queue_id'], ['ticket_queues.id'], name=op.f('fk_ticket_queue_members_queue_id_ticket_queues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_queue_members')),
    sa.UniqueConstraint('queue_id', 'agent_id', name=op.f('uq_ticket_queue_members_queue_id_agent_id'))
    )
    op.create_index(op.f('ix_ticket_queue_members_agent_id'), 'ticket_queue_members', ['agent_id'], unique=False)
    op.create_table('tickets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=False),
    sa.Column('assignee_id', sa.String(length=32), nullable=True),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reopen_count', sa.Integer(), nullable=False),
    sa.Column('policy', sa.JSON(), nullable=False),
    sa.Column('calendar', sa.JSON(), nullable=False),
    sa.Column('first_responded_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('resolved_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.Column('closed_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('satisfaction_source', sa.String(length=16), nullable=True),
    sa.Column('source_key', sa.String(length=80), nullable=True),
    sa.Column('breach_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('check_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=48), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('updated_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['queue_id'], ['ticket_queues.id'], name=op.f('fk_tickets_queue_id_ticket_queues')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('number', name=op.f('uq_tickets_number')),
    sa.UniqueConstraint('source_key', name=op.f('uq_tickets_source_key'))
    )
    op.create_index(op.f('ix_tickets_assignee_id'), 'tickets', ['assignee_id'], unique=False)
    op.create_index('ix_tickets_check_at', 'tickets', ['check_at'], unique=False)
    op.create_index(op.f('ix_tickets_created_at'), 'tickets', ['created_at'], unique=False)
    op.create_index(op.f('ix_tickets_customer_id'), 'tickets', ['customer_id'], unique=False)
    op.create_index('ix_tickets_queue_status', 'tickets', ['queue_id', 'status'], unique=False)
    op.create_table('ticket_clock_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('clock', sa.String(length=20), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_clock_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_clock_events')),
    sa.UniqueConstraint('ticket_id', 'seq', name=op.f('uq_ticket_clock_events_ticket_id_seq'))
    )
    op.create_index(op.f('ix_ticket_clock_events_ticket_id'), 'ticket_clock_events', ['ticket_id'], unique=False)
    op.create_table('ticket_comments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('author', sa.String(length=48), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_comments_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_comments'))
    )
    op.create_index(op.f('ix_ticket_comments_ticket_id'), 'ticket_comments', ['ticket_id'], unique=False)
    op.create_table('ticket_escalations',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('clock', sa.String(length=20), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('notified', sa.JSON(), nullable=False),
    sa.Column('fired_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_escalations_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_escalations')),
    sa.UniqueConstraint('ticket_id', 'clock', 'cycle', 'level', name=op.f('uq_ticket_escalations_ticket_id_clock_cycle_level'))
    )
    op.create_table('ticket_notifications',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('escalation_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('clock', sa.String(length=20), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('read_at', core.db.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['escalation_id'], ['ticket_escalations.id'], name=op.f('fk_ticket_notifications_escalation_id_ticket_escalations')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_notifications_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_notifications'))
    )
    op.create_index('ix_ticket_notifications_agent_created', 'ticket_notifications', ['agent_id', 'created_at'], unique=False)
    op.create_table('ticket_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=48), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events')),
    sa.UniqueConstraint('ticket_id', 'seq', name=op.f('uq_ticket_events_ticket_id_seq'))
    )
    op.create_index(op.f('ix_ticket_events_ticket_id'), 'ticket_events', ['ticket_id'], unique=False)
    op.create_table('ticket_followups',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('due_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('attempts', sa.JSON(), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('updated_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_followups_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_followups'))
    )
    op.create_index(op.f('ix_ticket_followups_ticket_id'), 'ticket_followups', ['ticket_id'], unique=False)
    op.create_table('ticket_orders',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_orders_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_orders')),
    sa.UniqueConstraint('ticket_id', 'order_id', name=op.f('uq_ticket_orders_ticket_id_order_id'))
    )
    op.create_index(op.f('ix_ticket_orders_order_id'), 'ticket_orders', ['order_id'], unique=False)
    op.create_index(op.f('ix_ticket_orders_ticket_id'), 'ticket_orders', ['ticket_id'], unique=False)
    op.create_table('ticket_refunds',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.String(length=32), nullable=False),
    sa.Column('refund_id', sa.String(length=64), nullable=False),
    sa.Column('decided_by', sa.String(length=48), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_refunds_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_refunds')),
    sa.UniqueConstraint('refund_id', name=op.f('uq_ticket_refunds_refund_id'))
    )
    op.create_index(op.f('ix_ticket_refunds_ticket_id'), 'ticket_refunds', ['ticket_id'], unique=False)


def downgrade() -> None:
    op.drop_table('ticket_refunds')
    op.drop_table('ticket_orders')
    op.drop_table('ticket_followups')
    op.drop_table('ticket_notifications')
    op.drop_table('ticket_events')
    op.drop_table('ticket_escalations')
    op.drop_table('ticket_comments')
    op.drop_table('ticket_clock_events')
    op.drop_table('tickets')
    op.drop_table('ticket_queue_members')
    op.drop_table('ticket_queues')
    op.drop_table('ticket_calendars')
    op.drop_table('ticket_agents')
    op.drop_table('sla_policies')
