"""ticketing: `ticketing_open_ticket`, a customer's new ticket in one statement.

PostgreSQL only (see ticketing/opening_pg.py for why this exists and when it is used). Called
outside a transaction, the call is its own transaction. It takes the queue row lock that every
drain of the queue takes (ticketing.assignment.drain_queue), then looks, with a fresh snapshot,
for a member agent with room. If there is one, it writes nothing and returns false: the caller
opens the ticket the plain way, whose drain assigns it. Otherwise no drain could assign
anything now, so it writes the ticket, its `created` timeline row, its clock events and the
stored Idempotency-Key response, and returns true; the lock is released at the statement's
end, with no network round trip while it is held.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION ticketing_open_ticket(
    p_ticket jsonb, p_event jsonb, p_clocks jsonb,
    k_id text, k_status integer, k_body json, k_resource_id text
) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
    v_queue text := p_ticket->>'queue_id';
BEGIN
    -- Serialises with every drain of this queue (NO KEY UPDATE, as drain_queue takes it).
    PERFORM 1 FROM ticket_queues WHERE id = v_queue FOR NO KEY UPDATE;
    -- Each statement of a plpgsql function sees what committed before it started, so a drain
    -- or a freed agent that committed while we waited for the lock is seen here.
    -- choose_agent's rule: available and fewer active tickets than the cap.
    IF EXISTS (
        SELECT 1
          FROM ticket_queue_members m
          JOIN ticket_agents a ON a.agent_id = m.agent_id
         WHERE m.queue_id = v_queue AND a.available
           AND a.cap > (SELECT count(*) FROM tickets t
                         WHERE t.assignee_id = a.agent_id
                           AND t.status IN ('new', 'open', 'pending_customer',
                                            'pending_partner', 'reopened'))
    ) THEN
        RETURN false;
    END IF;
    -- Rows by column name; every column is given, so a new NOT NULL column fails loudly here.
    INSERT INTO tickets SELECT * FROM jsonb_populate_record(NULL::tickets, p_ticket);
    INSERT INTO ticket_events
        SELECT * FROM jsonb_populate_record(NULL::ticket_events, p_event);
    INSERT INTO ticket_clock_events
        SELECT * FROM jsonb_populate_recordset(NULL::ticket_clock_events, p_clocks);
    IF k_id IS NOT NULL THEN
        UPDATE idempotency_keys
           SET state = 'completed', response_status = k_status, response_body = k_body,
               resource_id = k_resource_id, locked_until = NULL
         WHERE id = k_id;
    END IF;
    RETURN true;
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ticketing_open_ticket")
