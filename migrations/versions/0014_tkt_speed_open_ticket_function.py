"""ticketing: `ticketing_open_ticket`, a customer's new ticket in one statement.

PostgreSQL only (see ticketing/opening_pg.py for why this exists and when it is used). Called
outside a transaction, the call is its own transaction. It checks that the queue, calendar and
policy the caller built the ticket on are still those the plain way would use (else it returns
the current ones and writes nothing). It takes the queue row lock that every drain of the queue
takes (ticketing.assignment.drain_queue), then looks, with a fresh snapshot, for a member agent
with room: if there is one, it writes nothing and the caller opens the ticket the plain way,
whose drain assigns it. Otherwise no drain could assign anything now, so it claims and
completes the Idempotency-Key at once (a key already there: nothing written, the plain way
answers), writes the ticket, its `created` timeline row and its clock events, and returns
{"opened": true}; the lock is released at the statement's end, with no network round trip
while it is held.

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
    p_ask jsonb, p_used jsonb, p_ticket jsonb, p_event jsonb, p_clocks jsonb,
    p_key jsonb, k_body json
) RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    v_setup jsonb;
    v_queue text;
BEGIN
    -- The queue, its calendar and the SLA policy the plain way would pick now
    -- (setup.queue_by_code or queue_for_category, then policy_snapshot).
    SELECT jsonb_build_object(
             'queue_id', q.id, 'code', q.code,
             'calendar', jsonb_build_object('name', c.name, 'zone', c.zone,
                                            'hours', c.hours::jsonb,
                                            'holidays', c.holidays::jsonb),
             'policy', CASE WHEN p.id IS NULL THEN NULL
                            ELSE jsonb_build_array(p.id, p.first_response_s, p.next_response_s,
                                                   p.resolution_s, p.followup_s) END)
      INTO v_setup
      FROM ticket_queues q
      JOIN ticket_calendars c ON c.id = q.calendar_id
      LEFT JOIN sla_policies p
             ON p.category = p_ask->>'category' AND p.priority = p_ask->>'priority'
     WHERE CASE WHEN p_ask->>'queue' IS NOT NULL THEN q.code = p_ask->>'queue'
                ELSE q.code = p_ask->>'default'
                     OR COALESCE(q.categories::jsonb, '[]'::jsonb) ? (p_ask->>'category') END
     ORDER BY q.code = p_ask->>'default', q.created_at
     LIMIT 1;
    IF v_setup IS NULL THEN
        RETURN '{"plain": "queue"}';  -- the plain way says why, or creates the default queue
    END IF;
    IF p_used IS DISTINCT FROM v_setup THEN
        RETURN jsonb_build_object('setup', v_setup);  -- built on another setup: build again
    END IF;
    v_queue := v_setup->>'queue_id';
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
        RETURN '{"plain": "room"}';
    END IF;
    -- The Idempotency-Key, claimed and completed at once: a key already there (done, running,
    -- or expired) goes the plain way, which replays, refuses or takes it over.
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (id, scope, key, fingerprint, state, response_status,
                                      response_body, resource_id, created_at, locked_until,
                                      expires_at)
        VALUES (p_key->>'id', p_key->>'scope', p_key->>'key', p_key->>'fingerprint',
                'completed', (p_key->>'status')::integer, k_body, p_ticket->>'id',
                (p_key->>'created_at')::timestamptz, NULL,
                (p_key->>'expires_at')::timestamptz)
        ON CONFLICT (scope, key) DO NOTHING;
        IF NOT FOUND THEN
            RETURN '{"plain": "key"}';
        END IF;
    END IF;
    -- Rows by column name; every column is given, so a new NOT NULL column fails loudly here.
    INSERT INTO tickets SELECT * FROM jsonb_populate_record(NULL::tickets, p_ticket);
    INSERT INTO ticket_events
        SELECT * FROM jsonb_populate_record(NULL::ticket_events, p_event);
    INSERT INTO ticket_clock_events
        SELECT * FROM jsonb_populate_recordset(NULL::ticket_clock_events, p_clocks);
    RETURN '{"opened": true}';
END
$fn$;
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ticketing_open_ticket")
