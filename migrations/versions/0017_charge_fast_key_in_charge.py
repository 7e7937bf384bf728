"""payments: `payments_charge_carrier` claims the Idempotency-Key itself, in the charge's own
transaction; `payments_settle_card` settles a Stripe webhook's common case in one statement.

Why: with 0015 a carrier charge over HTTP still cost two commits, the key's claim (its own
autocommitted INSERT, core/idempotency.claim) and then the charge. Here the caller may hand
the key's row instead (`p_key`: id, scope, key, fingerprint, created_at, expires_at) and the
function inserts it as `completed`, with the stored response, in the same statement as the
charge: the claim and the charge commit or roll back together, in one round trip.

A key already there (completed, still running, or expired) is not this function's case: the
INSERT .. ON CONFLICT DO NOTHING finds nothing to do and the function raises HL002 like every
other decline, so nothing is written and the caller goes the plain way (core/idempotency.claim),
which replays the stored response, says 409 while the first still runs, 422 for the same key
with another body, or takes an expired key over. Two requests racing with one new key: the
second's INSERT waits on the first's uncommitted row, then declines (and is replayed).

The key is inserted first, before the phone account's lock is taken, so a duplicate never
waits on the account. `k_id` (completing a key claimed beforehand, as 0015 did) is kept for
callers that claimed the plain way; a caller passes one or the other, never both.

`payments_settle_card` (payments/settle_pg.py says why and what the caller hands it): the
event's receipt, then the payment's row lock and, for an intent that succeeded, what
service.settle -> on_captured -> commerce.mark_paid write in their common case, under the same
locks in the same order (receipt, payment, order) with the same guards. Returns 'duplicate'
when the receipt was there, 'settled' when it wrote; anything else raises HL002 and the
caller runs the plain path.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OLD_SIGNATURE = "jsonb, jsonb, jsonb, jsonb, jsonb, jsonb, jsonb, text, integer, json, text"

FUNCTION = """
CREATE OR REPLACE FUNCTION payments_charge_carrier(
    p_payment jsonb, p_history jsonb, p_movement jsonb, p_ledger jsonb, p_entries jsonb,
    p_order_event jsonb, p_outbox jsonb,
    k_id text, k_status integer, k_body json, k_resource_id text, p_key jsonb
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    account record;
    v_amount bigint := (p_payment->>'amount')::bigint;
    v_order_id text := p_payment->>'order_id';
    v_at timestamptz := (p_payment->>'updated_at')::timestamptz;
BEGIN
    -- The Idempotency-Key, claimed and completed at once (see the migration's docstring).
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (id, scope, key, fingerprint, state, response_status,
                                      response_body, resource_id, created_at, locked_until,
                                      expires_at)
        VALUES (p_key->>'id', p_key->>'scope', p_key->>'key', p_key->>'fingerprint',
                'completed', k_status, k_body, k_resource_id,
                (p_key->>'created_at')::timestamptz, NULL,
                (p_key->>'expires_at')::timestamptz)
        ON CONFLICT (scope, key) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'Idempotency-Key seen before' USING ERRCODE = 'HL002';
        END IF;
    END IF;
    SELECT id, currency INTO account FROM phone_accounts
     WHERE customer_id = p_payment->>'customer_id' FOR UPDATE;
    IF NOT FOUND OR account.currency <> p_payment->>'currency' THEN
        RAISE EXCEPTION 'no phone account in %', p_payment->>'currency' USING ERRCODE = 'HL002';
    END IF;
    IF EXISTS (SELECT 1 FROM payments WHERE request_key = p_payment->>'request_key')
       OR EXISTS (SELECT 1 FROM payments WHERE order_id = v_order_id AND status = 'succeeded')
    THEN
        RAISE EXCEPTION 'order % has a payment already', v_order_id USING ERRCODE = 'HL002';
    END IF;
    UPDATE orders SET status = 'paid', updated_at = v_at
     WHERE id = v_order_id AND status = 'awaiting_payment'
       AND total = v_amount AND currency = p_payment->>'currency';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % is not awaiting this payment', v_order_id USING ERRCODE = 'HL002';
    END IF;
    UPDATE phone_accounts
       SET balance = balance - v_amount, version = version + 1, updated_at = v_at
     WHERE id = account.id AND balance - v_amount >= -credit_limit;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no credit for %', v_amount USING ERRCODE = 'HL002';
    END IF;
    INSERT INTO payments SELECT * FROM jsonb_populate_record(
        NULL::payments, p_payment || jsonb_build_object('phone_account_id', account.id));
    INSERT INTO payment_history SELECT * FROM jsonb_populate_record(NULL::payment_history, p_history);
    INSERT INTO phone_account_movements SELECT * FROM jsonb_populate_record(
        NULL::phone_account_movements, p_movement || jsonb_build_object('account_id', account.id));
    INSERT INTO ledger_transactions
        SELECT * FROM jsonb_populate_recordset(NULL::ledger_transactions, p_ledger);
    INSERT INTO ledger_entries SELECT * FROM jsonb_populate_recordset(NULL::ledger_entries, p_entries);
    INSERT INTO order_events SELECT * FROM jsonb_populate_record(NULL::order_events, p_order_event);
    INSERT INTO outbox_messages SELECT * FROM jsonb_populate_record(NULL::outbox_messages, p_outbox);
    IF k_id IS NOT NULL THEN  -- a key claimed beforehand (p_key is then NULL)
        UPDATE idempotency_keys
           SET state = 'completed', response_status = k_status, response_body = k_body,
               resource_id = k_resource_id, locked_until = NULL
         WHERE id = k_id;
    END IF;
END
$fn$;
"""


SETTLE = """
CREATE OR REPLACE FUNCTION payments_settle_card(
    p_receipt jsonb, p_payment jsonb, p_history jsonb, p_ledger jsonb, p_entries jsonb,
    p_order_event jsonb, p_outbox jsonb
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    pay record;
    v_id text := p_payment->>'id';
    v_at timestamptz := (p_receipt->>'received_at')::timestamptz;
BEGIN
    INSERT INTO stripe_webhook_receipts (event_id, type, received_at)
    VALUES (p_receipt->>'event_id', p_receipt->>'type', v_at)
    ON CONFLICT (event_id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 'duplicate';
    END IF;
    SELECT status, intent_id, charge_id, balance_transaction_id, fee_amount, order_id
      INTO pay FROM payments WHERE id = v_id FOR UPDATE;
    IF NOT FOUND OR pay.status IS DISTINCT FROM p_payment->>'expected_status'
       OR pay.intent_id IS DISTINCT FROM p_payment->>'intent_id' THEN
        RAISE EXCEPTION 'payment % changed', v_id USING ERRCODE = 'HL002';
    END IF;
    IF p_history IS NULL THEN
        -- a repeat: settled before, its gateway facts recorded; nothing to write but the receipt
        IF pay.status <> 'succeeded' OR pay.charge_id IS DISTINCT FROM p_payment->>'charge_id'
           OR pay.balance_transaction_id IS DISTINCT FROM p_payment->>'balance_transaction_id'
           OR pay.fee_amount IS DISTINCT FROM (p_payment->>'fee_amount')::bigint THEN
            RAISE EXCEPTION 'payment % is not settled as said', v_id USING ERRCODE = 'HL002';
        END IF;
        RETURN 'settled';
    END IF;
    IF pay.fee_amount IS NOT NULL OR EXISTS (
        SELECT 1 FROM payments WHERE order_id = pay.order_id AND status = 'succeeded'
    ) THEN
        RAISE EXCEPTION 'order % has a payment already', pay.order_id USING ERRCODE = 'HL002';
    END IF;
    UPDATE orders SET status = 'paid', updated_at = v_at
     WHERE id = pay.order_id AND status = 'awaiting_payment';
    IF NOT FOUND THEN
        RAISE EXCEPTION 'order % is not awaiting payment', pay.order_id USING ERRCODE = 'HL002';
    END IF;
    UPDATE payments
       SET status = 'succeeded', updated_at = v_at,
           intent_id = COALESCE(intent_id, p_payment->>'set_intent_id'),
           charge_id = COALESCE(charge_id, p_payment->>'charge_id'),
           balance_transaction_id = COALESCE(balance_transaction_id,
                                             p_payment->>'balance_transaction_id'),
           fee_amount = (p_payment->>'fee_amount')::bigint
     WHERE id = v_id;
    INSERT INTO payment_history SELECT * FROM jsonb_populate_record(NULL::payment_history, p_history);
    INSERT INTO ledger_transactions
        SELECT * FROM jsonb_populate_recordset(NULL::ledger_transactions, p_ledger);
    INSERT INTO ledger_entries SELECT * FROM jsonb_populate_recordset(NULL::ledger_entries, p_entries);
    INSERT INTO order_events SELECT * FROM jsonb_populate_record(NULL::order_events, p_order_event);
    INSERT INTO outbox_messages SELECT * FROM jsonb_populate_record(NULL::outbox_messages, p_outbox);
    RETURN 'settled';
END
$fn$;
"""


def _previous() -> str:
    """0015's function text (its module's name starts with a digit: loaded by path)."""
    path = Path(__file__).with_name("0015_pay_speed_carrier_charge.py")
    spec = importlib.util.spec_from_file_location("_hotline_migration_0015", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FUNCTION)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS payments_charge_carrier({OLD_SIGNATURE})")
        op.execute(FUNCTION)
        op.execute(SETTLE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS payments_settle_card")
        op.execute(f"DROP FUNCTION IF EXISTS payments_charge_carrier({OLD_SIGNATURE}, jsonb)")
        op.execute(_previous())
