"""finance: gateway facts on payments and refunds, and reconciliation (imports, counterparty
lines, payouts, runs, differences, resolutions).

Counterparty lines of every source share one table keyed by (source, line_id), so a re-import
is an upsert that changes nothing when the facts did not change. Resolutions are never deleted:
a later run finds them by (source, match_key, fingerprint).

Revision ID: 0011
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("payments") as b:
        b.add_column(sa.Column("channel", sa.String(8), nullable=True))
        b.add_column(sa.Column("charge_id", sa.String(64), nullable=True))
        b.add_column(sa.Column("balance_transaction_id", sa.String(64), nullable=True))
        b.add_column(sa.Column("fee_amount", sa.BigInteger(), nullable=True))
        b.create_index("ix_payments_created_at", ["created_at"])
    with op.batch_alter_table("refunds") as b:
        b.add_column(sa.Column("balance_transaction_id", sa.String(64), nullable=True))
        b.create_index("ix_refunds_gateway_ref", ["gateway_ref"])
    # The channel the order came in through, for finance's takings per channel.
    op.execute(
        "UPDATE payments SET channel = (SELECT o.channel FROM orders o WHERE o.id = payments.order_id)"
    )
    op.create_index("ix_ledger_transactions_payment_id", "ledger_transactions", ["payment_id"])

    op.create_table(
        "recon_imports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("params", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_new", sa.BigInteger(), nullable=False),
        sa.Column("rows_changed", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    key_type = sa.String(120, collation="C" if _postgres() else None)
    op.create_table(
        "recon_lines",
        sa.Column("source", sa.String(16), primary_key=True),
        # Keys compare byte-wise ("C"): a day's sorts and index inserts stay fast whatever
        # the database's locale (a linguistic collation is several times slower).
        sa.Column("line_id", key_type, primary_key=True),
        sa.Column("match_key", key_type, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("payout_id", sa.String(64), nullable=True),
        sa.Column("ref", sa.String(120), nullable=True),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("charge_id", sa.String(64), nullable=True),
        sa.Column("payment_intent", sa.String(64), nullable=True),
        sa.Column("our_ref", sa.String(64), nullable=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("import_id", sa.String(32), nullable=False),
    )
    op.create_index("ix_recon_lines_at", "recon_lines", ["source", "at"])
    op.create_index(
        "ix_recon_lines_payout",
        "recon_lines",
        ["payout_id"],
        postgresql_where=sa.text("payout_id IS NOT NULL"),
        sqlite_where=sa.text("payout_id IS NOT NULL"),
    )
    op.create_table(
        "recon_payouts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("arrival_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("import_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("period_start", UtcDateTime(), nullable=True),
        sa.Column("period_end", UtcDateTime(), nullable=True),
        sa.Column("payout_id", sa.String(64), nullable=True),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "recon_items",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("recon_runs.id"), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("match_key", sa.String(120), nullable=False),
        sa.Column("our_ref", sa.String(200), nullable=True),
        sa.Column("their_ref", sa.String(400), nullable=True),
        sa.Column("order_number", sa.String(32), nullable=True),
        sa.Column("our_amount", sa.BigInteger(), nullable=True),
        sa.Column("their_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("their_currency", sa.String(3), nullable=True),
        sa.Column("our_status", sa.String(16), nullable=True),
        sa.Column("their_status", sa.String(16), nullable=True),
        sa.Column("our_count", sa.Integer(), nullable=False),
        sa.Column("their_count", sa.Integer(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=True),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("resolution_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_recon_items_run", "recon_items", ["run_id", "category"])
    op.create_table(
        "recon_resolutions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("match_key", sa.String(120), nullable=False),
        sa.Column("fingerprint", sa.String(32), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("note", sa.String(2000), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(32), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_recon_resolutions_key", "recon_resolutions", ["source", "match_key", "fingerprint"]
    )


def downgrade() -> None:
    for table in (
        "recon_resolutions",
        "recon_items",
        "recon_runs",
        "recon_payouts",
        "recon_lines",
        "recon_imports",
    ):
        op.drop_table(table)
    op.drop_index("ix_ledger_transactions_payment_id", "ledger_transactions")
    with op.batch_alter_table("refunds") as b:
        b.drop_index("ix_refunds_gateway_ref")
        b.drop_column("balance_transaction_id")
    with op.batch_alter_table("payments") as b:
        b.drop_index("ix_payments_created_at")
        for name in ("fee_amount", "balance_transaction_id", "charge_id", "channel"):
            b.drop_column(name)
