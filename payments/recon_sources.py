"""What payments reconciles: card money against Stripe, carrier billing against the
operator's settlement file. Each is our books as one SELECT (see `recon.ReconSource`) and,
for the operator, the documented file format (README, docs/samples/carrier_settlement.csv)."""

from __future__ import annotations

from payments.recon import ReconSource
from payments.recon_dates import DATE, FIRST_DAY, TYPED_AFTER, ZONED_TIME, in_years, zoned
from payments.recon_files import AMOUNT, CURRENCY, IDENT, FileFormat, minor_units

# Card money: a payment is keyed by its PaymentIntent, a refund by Stripe's refund id, a
# dispute by the disputed PaymentIntent (amounts signed as Stripe books them).
STRIPE = ReconSource(
    name="stripe",
    payouts=True,
    ours="""
    SELECT 'pi:' || p.intent_id AS match_key, p.id AS our_ref, p.order_number, p.amount,
           p.currency, CASE WHEN p.status = 'succeeded' THEN 'ok' ELSE p.status END AS status,
           p.created_at AS at
    FROM payments p
    WHERE p.method = 'card' AND p.intent_id IS NOT NULL
      AND p.created_at >= :lo AND p.created_at < :hi
    UNION ALL
    SELECT 're:' || r.gateway_ref, r.id, p.order_number, -r.amount, r.currency,
           CASE WHEN r.status = 'succeeded' THEN 'ok' ELSE r.status END, r.created_at
    FROM refunds r JOIN payments p ON p.id = r.payment_id
    WHERE p.method = 'card' AND r.gateway_ref IS NOT NULL
      AND r.created_at >= :lo AND r.created_at < :hi
    UNION ALL
    SELECT 'dp:' || p.intent_id, p.id, p.order_number, -sum(e.amount), e.currency, 'ok',
           min(t.at)
    FROM ledger_transactions t
    JOIN ledger_entries e ON e.transaction_id = t.id AND e.account = 'disputes'
    JOIN payments p ON p.id = t.payment_id
    WHERE t.kind = 'dispute' AND t.at >= :lo AND t.at < :hi
    GROUP BY p.intent_id, p.id, p.order_number, e.currency
    """,
)

# Carrier billing: the operator lists our charge id (the payment id) or our refund id.
# Both are primary keys (random 128-bit ids), so each key is at most once in our books.
CARRIER = ReconSource(
    name="carrier",
    ours_unique=True,
    ours="""
    SELECT p.id AS match_key, p.id AS our_ref, p.order_number, p.amount, p.currency,
           CASE WHEN p.status = 'succeeded' THEN 'ok' ELSE p.status END AS status,
           p.created_at AS at
    FROM payments p
    WHERE p.method = 'carrier_billing' AND p.created_at >= :lo AND p.created_at < :hi
    UNION ALL
    SELECT r.id, r.id, p.order_number, -r.amount, r.currency,
           CASE WHEN r.status = 'succeeded' THEN 'ok' ELSE r.status END, r.created_at
    FROM refunds r JOIN payments p ON p.id = r.payment_id
    WHERE p.method = 'carrier_billing' AND r.created_at >= :lo AND r.created_at < :hi
    """,
)

CARRIER_STATUSES = ("charged", "refunded", "failed", "reversed")
_STATUSES = "(" + ", ".join(f"'{s}'" for s in CARRIER_STATUSES) + ")"
CARRIER_FILE = FileFormat(
    source="carrier",
    columns=(
        "phone",
        "charge_id",
        "amount",
        "currency",
        "charged_at",
        "status",
        "settlement_date",
    ),
    checks=(
        (
            "phone",
            (r"{c} ~ '^\+[1-9][0-9]+$' AND length({c}) BETWEEN 8 AND 16", "an E.164 number"),
        ),
        ("charge_id", IDENT),
        ("amount", AMOUNT),
        ("currency", CURRENCY),
        ("charged_at", ZONED_TIME),
        ("status", ("{c} IN " + _STATUSES, "one of " + ", ".join(CARRIER_STATUSES))),
        ("settlement_date", DATE),
    ),
    # octet_length is constant-time where length() counts UTF-8 characters; it is used
    # only where the condition beside it has already made the column ASCII.
    quick=(
        # The phone is kept as text (no cast refuses it), so this must be the whole E.164
        # check: a plus, a digit 1-9, digits only (a negated class, not a counted pattern).
        "left(r.phone, 1) = '+' AND substr(r.phone, 2, 1) BETWEEN '1' AND '9'"
        " AND substr(r.phone, 2) !~ '[^0-9]' AND octet_length(r.phone) BETWEEN 8 AND 16"
        " AND r.charge_id !~ '[^A-Za-z0-9_.:-]' AND octet_length(r.charge_id) BETWEEN 1 AND 64"
        " AND r.amount ~ '^[0-9]+(\\.[0-9][0-9]?)?$' AND octet_length(r.amount) <= 13"
        " AND length(r.currency) = 3 AND r.currency = upper(r.currency)"
        f" AND r.status IN {_STATUSES} AND length(r.settlement_date) = 10"
        f" AND {in_years('settlement_date')} AND {zoned('charged_at')}"
    ),
    typed=f"s.at >= {TYPED_AFTER} AND s.settled_on >= {FIRST_DAY}",
    # A line is the charge, its status and its settlement day; the same line twice in a
    # file is a second line (#2), which matching reports as a duplicate, numbered in file
    # order (r.ctid: see recon_files). The window keeps the inner SELECT a subquery, so the
    # signed amount is parsed once and reused as the net (no fee on carrier billing).
    select=f"""
    SELECT x.line_id, x.match_key, x.kind, x.amount, 0::bigint AS fee, x.amount AS net,
           x.currency, x.status, x.at, x.settled_on, NULL::varchar AS payout_id, x.ref,
           x.category, NULL::varchar AS charge_id, NULL::varchar AS payment_intent, x.our_ref
    FROM (
      SELECT r.charge_id || '/' || r.status || '/' || r.settlement_date || '#'
               || row_number() OVER (PARTITION BY r.charge_id, r.status, r.settlement_date
                                     ORDER BY r.ctid) AS line_id,
             r.charge_id AS match_key,
             CASE WHEN r.status = 'refunded' THEN 'refund' ELSE 'charge' END AS kind,
             CASE WHEN r.status = 'refunded' THEN -1 ELSE 1 END
               * {minor_units("amount")} AS amount,
             r.currency,
             CASE WHEN r.status IN ('charged', 'refunded') THEN 'ok' ELSE r.status END AS status,
             r.charged_at::timestamptz AS at, r.settlement_date::date AS settled_on,
             r.phone AS ref, r.status AS category, r.charge_id AS our_ref
      FROM recon_raw r
    ) x
    """,  # noqa: S608 - constant SQL
)
