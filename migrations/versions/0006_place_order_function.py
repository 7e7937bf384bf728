"""commerce: `commerce_place_order`, an order and its capacity hold in one statement.

PostgreSQL only (SQLite places orders through the session; see commerce/placing.py for why
this exists). The function writes the order, its items, its first history row and, when the
request carried an Idempotency-Key, the stored response; then, last, it takes the seats with
the same conditional UPDATE as commerce.capacity.hold, offer by offer in offer-id order. Called
outside a transaction, the call is its own transaction: the hot offer's row is locked from
that UPDATE until the commit at the statement's end, without one network round trip between.

A line that does not fit raises SQLSTATE HL001 with the offer id as DETAIL; everything the
call wrote rolls back with it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION commerce_place_order(
    p_order jsonb, p_items jsonb, p_event jsonb,
    k_id text, k_status integer, k_body json, k_resource_id text,
    p_lock_timeout text
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    line record;
BEGIN
    -- The items' foreign keys share-lock each offer row: a long admin lock makes them wait.
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    -- Rows by column name (one JSON argument each costs the caller far less than thirty
    -- typed ones); every column is given, so a new NOT NULL column fails loudly here.
    INSERT INTO orders SELECT * FROM jsonb_populate_record(NULL::orders, p_order);
    INSERT INTO order_items
        SELECT * FROM jsonb_populate_recordset(NULL::order_items, p_items);
    INSERT INTO order_events SELECT * FROM jsonb_populate_record(NULL::order_events, p_event);
    IF k_id IS NOT NULL THEN
        UPDATE idempotency_keys
           SET state = 'completed', response_status = k_status, response_body = k_body,
               resource_id = k_resource_id, locked_until = NULL
         WHERE id = k_id;
    END IF;
    -- Last, in offer-id order: the conditional UPDATE is the guard (capacity.hold's).
    FOR line IN
        SELECT l->>'offer_id' AS offer_id, (l->>'quantity')::integer AS quantity,
               (l->>'unit_price')::integer AS unit_price, (l->>'seen')::integer AS seen
          FROM jsonb_array_elements(p_items) AS l
         ORDER BY 1
    LOOP
        IF line.seen IS NULL THEN
            UPDATE offers SET available = available - line.quantity
             WHERE id = line.offer_id AND available >= line.quantity
               AND price_amount = line.unit_price AND currency = p_order->>'currency'
               AND starts_at > (p_order->>'created_at')::timestamptz;
        ELSE
            -- The oversell canary only (HOTLINE_TEST_UNGUARDED_HOLDS): write back what the
            -- quote read (the item's `seen`), the read-then-write bug the guard prevents.
            UPDATE offers SET available = line.seen - line.quantity WHERE id = line.offer_id;
        END IF;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'offer % cannot be held', line.offer_id
                USING ERRCODE = 'HL001', DETAIL = line.offer_id;
        END IF;
    END LOOP;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS commerce_place_order")
