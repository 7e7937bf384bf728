"""payments: `payments_charge_carrier`, a whole carrier-billing charge in one statement.

PostgreSQL only; see payments/carrier_pg.py for why it exists and what the caller hands it.
Every row is built in Python by the same code the plain path uses (payments/service.py) and
arrives as JSON; the function only decides, in the plain path's order and under its locks:

1. the customer's phone account row, FOR UPDATE (start_payment's lock_account): one carrier
   charge per customer is decided at a time;
2. the order is still payable: no succeeded payment, and the conditional UPDATE
   awaiting_payment -> paid of commerce.mark_paid (the guard against a second payment);
3. the conditional debit of carrier.debit (`balance - amount >= -credit_limit`);
4. then it writes the payment, its history, the movement, the ledger, the order's history
   row, the outbox message and the Idempotency-Key's stored response.

Anything else (no account, another currency, already paid or not awaiting payment, no
credit, the same key seen before) raises SQLSTATE HL002 and rolls everything back: the caller
then runs the plain path, which answers with the right error or outcome.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION payments_charge_carrier(
    p_payment jsonb, p_history jsonb, p_movement jsonb, p_ledger jsonb, p_entries jsonb,
    p_order_event jsonb, p_outbox jsonb,
    k_id text, k_status integer, k_body json, k_resource_id text
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    account record;
    v_amount bigint := (p_payment->>'amount')::bigint;
    v_order_id text := p_payment->>'order_id';
    v_at timestamptz := (p_payment->>'updated_at')::timestamptz;
BEGIN
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
    IF k_id IS NOT NULL THEN
        UPDATE idempotency_keys
           SET state = 'completed', response_status = k_status, response_body = k_body,
               resource_id = k_resource_id, locked_until = NULL
         WHERE id = k_id;
    END IF;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS payments_charge_carrier")
