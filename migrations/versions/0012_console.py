"""Wrap-up notes an agent writes at the end of a call, on the caller's record (ticketing's
`call_notes`, shown by the console's customer 360).

Revision ID: 0012
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.db

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", core.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_notes")),
    )
    op.create_index(op.f("ix_call_notes_customer_id"), "call_notes", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_call_notes_customer_id"), table_name="call_notes")
    op.drop_table("call_notes")
