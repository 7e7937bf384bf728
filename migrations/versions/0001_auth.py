"""auth room tables: customers, agents, one-time codes, caller verifications, audit; and the
built-in SMS sink's table (core/sms.py, owned by the auth room).

Revision ID: 0001
Revises: 0000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0001"
down_revision = "0000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("username", name=op.f("uq_agents_username")),
    )
    op.create_table(
        "auth_audit",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("at", core.db.UtcDateTime(), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("client_address", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_audit")),
    )
    op.create_index(op.f("ix_auth_audit_at"), "auth_audit", ["at"], unique=False)
    op.create_table(
        "auth_otp_codes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_otp_codes")),
    )
    op.create_index(op.f("ix_auth_otp_codes_phone"), "auth_otp_codes", ["phone"], unique=False)
    op.create_table(
        "caller_verifications",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.Column("expires_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caller_verifications")),
    )
    op.create_index(
        op.f("ix_caller_verifications_customer_id"),
        "caller_verifications",
        ["customer_id"],
        unique=False,
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("pin_hash", sa.String(length=200), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("phone", name=op.f("uq_customers_phone")),
    )
    op.create_table(
        "sms_messages",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("to", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_messages")),
    )
    op.create_index(op.f("ix_sms_messages_to"), "sms_messages", ["to"], unique=False)


def downgrade() -> None:
    for table in (
        "sms_messages",
        "customers",
        "caller_verifications",
        "auth_otp_codes",
        "auth_audit",
        "agents",
    ):
        op.drop_table(table)
