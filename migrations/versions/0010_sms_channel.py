"""SMS channel: every text in and out is one `sms_messages` row (direction, the sender of an
inbound one, the parsed command, its outcome, the order or ticket it touched, its segment
count), indexed for a customer's conversation and the reply budgets; `sms_opt_outs` holds
the numbers that texted STOP/TD/退订; a dead letter may name a failed text (`sms_id`).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("direction", "from_phone", "command", "outcome", "order_id", "ticket_id", "segments")
INDEXES = {
    "ix_sms_messages_to_created": ["to", "created_at"],
    "ix_sms_messages_from_created": ["from_phone", "created_at"],
    "ix_sms_messages_purpose_created": ["purpose", "created_at"],
}


def upgrade() -> None:
    with op.batch_alter_table("sms_messages") as batch:
        batch.add_column(
            sa.Column("direction", sa.String(length=3), server_default="out", nullable=False)
        )
        batch.add_column(sa.Column("from_phone", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("command", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("order_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("ticket_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("segments", sa.Integer(), server_default="0", nullable=False))
    for name, columns in INDEXES.items():
        op.create_index(name, "sms_messages", columns, unique=False)
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("sms_id", sa.String(length=32), nullable=True))
    op.create_table(
        "sms_opt_outs",
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("opted_out_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone", name=op.f("pk_sms_opt_outs")),
    )


def downgrade() -> None:
    op.drop_table("sms_opt_outs")
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("sms_id")
    for name in INDEXES:
        op.drop_index(name, table_name="sms_messages")
    with op.batch_alter_table("sms_messages") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
