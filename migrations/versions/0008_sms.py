"""SMS through the outbox: `sms_messages` becomes the queue of outgoing texts (status, the
provider's message id the delivery-status webhook looks up, attempts, error, a lease while a
job talks to the provider), and `sms_inbound` answers each inbound MessageSid once.

Revision ID: 0008
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ("provider_message_id", "attempts", "error", "lease_until", "sent_at", "status_at")


def upgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(sa.Column("provider_message_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(sa.Column("error", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("lease_until", core.db.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("sent_at", core.db.UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("status_at", core.db.UtcDateTime(), nullable=True))
    op.create_index(
        op.f("ix_sms_messages_provider_message_id"),
        "sms_messages",
        ["provider_message_id"],
        unique=True,
    )
    op.create_index(
        "ix_sms_messages_status_lease", "sms_messages", ["status", "lease_until"], unique=False
    )
    op.create_table(
        "sms_inbound",
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("from_phone", sa.String(length=20), nullable=True),
        sa.Column("reply", sa.Text(), nullable=False),
        sa.Column("received_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("message_sid", name=op.f("pk_sms_inbound")),
    )


def downgrade() -> None:
    op.drop_table("sms_inbound")
    op.drop_index("ix_sms_messages_status_lease", table_name="sms_messages")
    op.drop_index(op.f("ix_sms_messages_provider_message_id"), table_name="sms_messages")
    with op.batch_alter_table("sms_messages") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
