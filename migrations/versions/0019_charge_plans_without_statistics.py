"""payments: `payments_charge_carrier` and `payments_settle_card` find the order and its
payments by their keys alone, whatever the planner's statistics say.

Why: in 0017 two statements let the planner choose an index from statistics. On a database
whose statistics are missing or stale (fresh, restored, bulk-loaded, as in bench/payments.py
before autovacuum's first ANALYZE) it chose the wrong one, and each charge walked an index
that grows with the business: `UPDATE orders .. WHERE id = .. AND status = 'awaiting_payment'`
scanned ix_orders_status_hold_expires_at through every order awaiting payment (1000 rows per
charge at the bench's start), and the "already paid" check scanned ix_payments_status through
every succeeded payment. The conditions on status (and total, currency) are now wrapped in
`( .. ) IS TRUE`, which PostgreSQL never turns into an index condition: only the primary key
(orders) or ix_payments_order_id (payments) can find the rows, and the conditions are checked
on that one row (and rechecked after a lock wait, as before). Same guards, same locks in the
same order, same rows written; the function's signature and everything else are 0017's.
The card settle (0017's payments_settle_card) had the same two statements and gets the same
rewrite.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def _module(name: str) -> ModuleType:
    """A migration module by file name (their names start with a digit: loaded by path)."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"_hotline_migration_{name[:4]}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_PREVIOUS = "0017_charge_fast_key_in_charge.py"
_PAID = "EXISTS (SELECT 1 FROM payments WHERE order_id = v_order_id AND status = 'succeeded')"
_PAID_NEW = (
    "EXISTS (SELECT 1 FROM payments\n"
    "                  WHERE order_id = v_order_id AND (status = 'succeeded') IS TRUE)"
)
_AWAITING = """     WHERE id = v_order_id AND status = 'awaiting_payment'
       AND total = v_amount AND currency = p_payment->>'currency';"""
_AWAITING_NEW = """     WHERE id = v_order_id AND (status = 'awaiting_payment'
       AND total = v_amount AND currency = p_payment->>'currency') IS TRUE;"""


_SETTLE_PAID = "SELECT 1 FROM payments WHERE order_id = pay.order_id AND status = 'succeeded'"
_SETTLE_PAID_NEW = (
    "SELECT 1 FROM payments WHERE order_id = pay.order_id AND (status = 'succeeded') IS TRUE"
)
_SETTLE_AWAITING = "WHERE id = pay.order_id AND status = 'awaiting_payment';"
_SETTLE_AWAITING_NEW = "WHERE id = pay.order_id AND (status = 'awaiting_payment') IS TRUE;"


def settle() -> str:
    """0017's card settle with the same two statements rewritten (checked to be there)."""
    text = str(_module(_PREVIOUS).SETTLE)
    assert text.count(_SETTLE_PAID) == 1 and text.count(_SETTLE_AWAITING) == 1, "0017 changed"
    return text.replace(_SETTLE_PAID, _SETTLE_PAID_NEW).replace(
        _SETTLE_AWAITING, _SETTLE_AWAITING_NEW
    )


def function() -> str:
    """0017's function text with the two statements above rewritten (checked to be there)."""
    text = str(_module(_PREVIOUS).FUNCTION)
    assert text.count(_PAID) == 1 and text.count(_AWAITING) == 1, "0017's text changed"
    return text.replace(_PAID, _PAID_NEW).replace(_AWAITING, _AWAITING_NEW)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(function())
        op.execute(settle())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(str(_module(_PREVIOUS).FUNCTION))
        op.execute(str(_module(_PREVIOUS).SETTLE))
