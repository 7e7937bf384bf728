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
    o_id text, o_number text, o_customer_id text, o_channel text, o_currency text,
    o_subtotal integer, o_booking_fee integer, o_delivery_fee integer, o_total integer,
    o_delivery_method text, o_delivery_address text, o_hold_expires_at timestamptz,
    o_created_by text, o_now timestamptz,
    i_ids text[], i_offer_ids text[], i_codes text[], i_titles text[],
    i_starts_at timestamptz[], i_quantities integer[], i_unit_prices integer[],
    e_id text, e_reason text,
    k_id text, k_status integer, k_body json, k_resource_id text,
    p_lock_timeout text,
    p_seen_available integer[]
) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    line record;
BEGIN
    -- The items' foreign keys share-lock each offer row: a long admin lock makes them wait.
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
    INSERT INTO orders (id, number, customer_id, status, channel, currency, subtotal,
                        booking_fee, delivery_fee, total, delivery_method, delivery_address,
                        hold_expires_at, created_by, created_at, updated_at)
    VALUES (o_id, o_number, o_customer_id, 'awaiting_payment', o_channel, o_currency,
            o_subtotal, o_booking_fee, o_delivery_fee, o_total, o_delivery_method,
            o_delivery_address, o_hold_expires_at, o_created_by, o_now, o_now);
    INSERT INTO order_items (id, order_id, offer_id, offer_code, title, starts_at, quantity,
                             unit_price, line_total)
    SELECT i.id, o_id, i.offer_id, i.code, i.title, i.starts_at, i.quantity, i.unit_price,
           i.quantity * i.unit_price
      FROM unnest(i_ids, i_offer_ids, i_codes, i_titles, i_starts_at, i_quantities,
                  i_unit_prices) AS i(id, offer_id, code, title, starts_at, quantity,
                                      unit_price);
    INSERT INTO order_events (id, order_id, from_status, to_status, actor, channel, reason, at)
    VALUES (e_id, o_id, NULL, 'awaiting_payment', o_created_by, o_channel, e_reason, o_now);
    IF k_id IS NOT NULL THEN
        UPDATE idempotency_keys
           SET state = 'completed', response_status = k_status, response_body = k_body,
               resource_id = k_resource_id, locked_until = NULL
         WHERE id = k_id;
    END IF;
    -- Last, in offer-id order: the conditional UPDATE is the guard (capacity.hold's).
    FOR line IN
        SELECT l.offer_id, l.quantity, l.unit_price, l.seen
          FROM unnest(i_offer_ids, i_quantities, i_unit_prices, p_seen_available)
               AS l(offer_id, quantity, unit_price, seen)
         ORDER BY l.offer_id
    LOOP
        IF p_seen_available IS NULL THEN
            UPDATE offers SET available = available - line.quantity
             WHERE id = line.offer_id AND available >= line.quantity
               AND price_amount = line.unit_price AND currency = o_currency
               AND starts_at > o_now;
        ELSE
            -- The oversell canary only (HOTLINE_TEST_UNGUARDED_HOLDS): write back what the
            -- quote read, the read-then-write bug the guard exists to prevent.
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
