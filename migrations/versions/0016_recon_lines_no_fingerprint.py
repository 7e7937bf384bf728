"""payments: recon_lines loses its fingerprint column.

A re-imported line now counts as changed when its stored facts differ (payments/recon_store
_MERGE compares them column by column), not when an md5 of them differs: the md5 of every
line was a tenth of a day's import (0.9 s of CPU at a million lines) and was only ever read
by a re-import. Facts that differ only in how the file wrote them ("12.0" and "12.00", one
instant in two zones) are now the same line, as they already were for Stripe's batches.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recon_lines") as b:
        b.drop_column("fingerprint")


def downgrade() -> None:
    # The old code compares fingerprints: '' differs from every md5, so the first re-import
    # of each line after a downgrade counts it as changed once.
    with op.batch_alter_table("recon_lines") as b:
        b.add_column(sa.Column("fingerprint", sa.String(32), nullable=False, server_default=""))
