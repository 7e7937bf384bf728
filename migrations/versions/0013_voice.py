"""The voice channel: `voice_calls` (one row per IVR call: menu path, verification, skill
queue, answering agent, wrap-up, how it ended), and keypad verifications in
`caller_verifications` (`channel` phone|ivr, no agent until one answers, the call's sid).

Revision ID: 0013
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("caller_verifications") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=10), server_default="phone", nullable=False)
        )
        batch.add_column(sa.Column("call_sid", sa.String(length=64), nullable=True))
        batch.alter_column("agent_id", existing_type=sa.String(length=32), nullable=True)
    op.create_index(
        op.f("ix_caller_verifications_call_sid"), "caller_verifications", ["call_sid"]
    )
    op.create_table(
        "voice_calls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("call_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=32), nullable=False),
        sa.Column("to_phone", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("menu_path", sa.JSON(), nullable=False),
        sa.Column("verification", sa.String(length=10), nullable=False),
        sa.Column("verification_id", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queue", sa.String(length=20), nullable=True),
        sa.Column("agent_id", sa.String(length=32), nullable=True),
        sa.Column("wrap_up_code", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("provider_status", sa.String(length=20), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("started_at", core.db.UtcDateTime(), nullable=False),
        sa.Column("enqueued_at", core.db.UtcDateTime(), nullable=True),
        sa.Column("answered_at", core.db.UtcDateTime(), nullable=True),
        sa.Column("ended_at", core.db.UtcDateTime(), nullable=True),
        sa.Column("wrapped_up_at", core.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_calls")),
        sa.UniqueConstraint("call_sid", name=op.f("uq_voice_calls_call_sid")),
    )
    op.create_index(op.f("ix_voice_calls_status"), "voice_calls", ["status"])
    op.create_index(op.f("ix_voice_calls_agent_id"), "voice_calls", ["agent_id"])
    op.create_index(op.f("ix_voice_calls_started_at"), "voice_calls", ["started_at"])
    op.create_index("ix_voice_calls_queue_status", "voice_calls", ["queue", "status"])


def downgrade() -> None:
    op.drop_table("voice_calls")
    op.drop_index(op.f("ix_caller_verifications_call_sid"), table_name="caller_verifications")
    op.execute("DELETE FROM caller_verifications WHERE agent_id IS NULL")
    with op.batch_alter_table("caller_verifications") as batch:
        batch.alter_column("agent_id", existing_type=sa.String(length=32), nullable=False)
        batch.drop_column("call_sid")
        batch.drop_column("channel")
