"""fulfillment room tables: partners, shipments, tracking events, partner callbacks, dead
letters and partner payables.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('delivery_method', sa.String(length=16), nullable=False),
    sa.Column('endpoint_url', sa.String(length=500), nullable=False),
    sa.Column('secret', sa.String(length=200), nullable=False),
    sa.Column('cost_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners')),
    sa.UniqueConstraint('code', name=op.f('uq_partners_code'))
    )
    op.create_table('partner_callbacks',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('shipment_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('received_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_callbacks_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_callbacks')),
    sa.UniqueConstraint('partner_id', 'event_id', name=op.f('uq_partner_callbacks_partner_id_event_id'))
    )
    op.create_table('shipments',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('order_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('tracking_number', sa.String(length=100), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('lease_until', core.db.UtcDateTime(), nullable=True),
    sa.Column('next_attempt_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('dead_lettered', sa.Boolean(), nullable=False),
    sa.Column('last_event_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('dispatched_at', core.db.UtcDateTime(), nullable=True),
    sa.Column('updated_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_shipments_partner_id_partners')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('order_id', 'partner_id', name=op.f('uq_shipments_order_id_partner_id'))
    )
    op.create_index('ix_shipments_due', 'shipments', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_shipments_order_id'), 'shipments', ['order_id'], unique=False)
    op.create_table('dead_letters',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shipment_id', sa.String(length=32), nullable=True),
    sa.Column('order_id', sa.String(length=32), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('delivery_method', sa.String(length=16), nullable=True),
    sa.Column('partner_code', sa.String(length=40), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('replayed_at', core.db.UtcDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_dead_letters_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dead_letters'))
    )
    op.create_index(op.f('ix_dead_letters_shipment_id'), 'dead_letters', ['shipment_id'], unique=False)
    op.create_index(op.f('ix_dead_letters_order_id'), 'dead_letters', ['order_id'], unique=False)
    op.create_table('partner_payables',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shipment_id', sa.String(length=32), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=False),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('created_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'], name=op.f('fk_partner_payables_partner_id_partners')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_partner_payables_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_payables')),
    sa.UniqueConstraint('shipment_id', name=op.f('uq_partner_payables_shipment_id'))
    )
    op.create_index(op.f('ix_partner_payables_partner_id'), 'partner_payables', ['partner_id'], unique=False)
    op.create_table('shipment_events',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('shipment_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('applied', sa.Boolean(), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('occurred_at', core.db.UtcDateTime(), nullable=False),
    sa.Column('recorded_at', core.db.UtcDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_events_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_events'))
    )
    op.create_index(op.f('ix_shipment_events_shipment_id'), 'shipment_events', ['shipment_id'], unique=False)


def downgrade() -> None:
    op.drop_table("shipment_events")
    op.drop_table("partner_payables")
    op.drop_table("dead_letters")
    op.drop_index("ix_shipments_due", table_name="shipments")
    op.drop_table("shipments")
    op.drop_table("partner_callbacks")
    op.drop_table("partners")
