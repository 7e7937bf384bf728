"""fulfillment: the built-in e-ticket partner exists in every database, not only the demo's.

Without it every paid e-ticket order in production is dead-lettered (`no_partner`) until an
operator adds the partner by hand. It sends codes by SMS, so it has no endpoint; its secret
is random per database (nothing signs with it, but the column is required).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.db import UtcDateTime, new_id

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CODE = "eticket"

partners = sa.table(
    "partners",
    sa.column("id", sa.String),
    sa.column("code", sa.String),
    sa.column("name", sa.String),
    sa.column("kind", sa.String),
    sa.column("delivery_method", sa.String),
    sa.column("endpoint_url", sa.String),
    sa.column("secret", sa.String),
    sa.column("cost_minor", sa.Integer),
    sa.column("currency", sa.String),
    sa.column("active", sa.Boolean),
    sa.column("created_at", UtcDateTime()),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.execute(sa.select(partners.c.id).where(partners.c.code == CODE)).first():
        return  # a demo seed or an operator added it already
    bind.execute(
        partners.insert().values(
            id=new_id(),
            code=CODE,
            name="电子票 E-ticket (SMS)",
            kind="eticket",
            delivery_method="eticket",
            endpoint_url="",
            secret=secrets.token_urlsafe(32),
            cost_minor=0,
            # Free deliveries: the currency only labels a zero cost.
            currency=os.environ.get("HOTLINE_CURRENCY", "CNY"),
            active=True,
            created_at=datetime.now(UTC),
        )
    )


def downgrade() -> None:
    shipments = sa.table("shipments", sa.column("partner_id", sa.String))
    used = sa.select(shipments.c.partner_id)
    op.get_bind().execute(
        partners.delete().where(partners.c.code == CODE, partners.c.id.not_in(used))
    )
