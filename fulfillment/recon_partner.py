"""Partner delivery invoices against `partner_payables` (what we owe each partner per
shipment). The invoice format is documented in the README (docs/samples/partner_invoice.csv);
matching and imports are the payments room's engine, fed with our payables and the file's
lines. An invoice is one-to-many (one invoice, many shipments); a shipment billed over two
lines that add up matches (many-to-one); one billed in full twice is a duplicate."""

from __future__ import annotations

import payments

PARTNER = payments.ReconSource(
    name="partner",
    ours="""
    SELECT pp.shipment_id AS match_key, pp.id AS our_ref, NULL::varchar AS order_number,
           pp.amount_minor::bigint AS amount, pp.currency, 'ok' AS status, pp.created_at AS at
    FROM partner_payables pp
    WHERE pp.created_at >= :lo AND pp.created_at < :hi
    """,
)

PARTNER_FILE = payments.FileFormat(
    source="partner",
    columns=("invoice_number", "partner_code", "shipment_id", "amount", "currency", "period"),
    checks=(
        (
            "invoice_number",
            (
                "{c} !~ '[^A-Za-z0-9_./:-]' AND length({c}) BETWEEN 1 AND 40",
                "1-40 letters, digits or _ . / : -",
            ),
        ),
        (
            "partner_code",
            ("{c} ~ '^[a-z0-9][a-z0-9_-]*$' AND length({c}) <= 40", "the partner's code, e.g. sf"),
        ),
        ("shipment_id", ("{c} ~ '^[A-Za-z0-9]+$' AND length({c}) <= 32", "our shipment id")),
        (
            "amount",
            (
                "{c} ~ '^-?[0-9]+(\\.[0-9][0-9]?)?$' AND length({c}) <= 14",
                "a number of major units, e.g. 15.00",
            ),
        ),
        ("currency", ("{c} ~ '^[A-Z][A-Z][A-Z]$'", "a three-letter ISO 4217 code, e.g. CNY")),
        ("period", payments.MONTH_OR_DAY),
    ),
    quick=(
        "length(r.invoice_number) BETWEEN 1 AND 40 AND r.invoice_number !~ '[^A-Za-z0-9_./:-]'"
        " AND length(r.partner_code) BETWEEN 1 AND 40 AND r.partner_code = lower(r.partner_code)"
        " AND length(r.shipment_id) BETWEEN 1 AND 32 AND r.shipment_id !~ '[^A-Za-z0-9]'"
        " AND r.amount ~ '^-?[0-9]+(\\.[0-9][0-9]?)?$' AND length(r.amount) <= 14"
        " AND length(r.currency) = 3 AND r.currency = upper(r.currency)"
        f" AND length(r.period) IN (7, 10) AND {payments.in_years('period')}"
    ),
    typed=f"s.at >= {payments.TYPED_AFTER}",
    # A line starts at its period's first day in the business time zone (:tz).
    select=f"""
    SELECT r.invoice_number || '/' || r.shipment_id || '#'
             || row_number() OVER (PARTITION BY r.invoice_number, r.shipment_id
                                   ORDER BY r.ctid) AS line_id,
           r.shipment_id AS match_key, 'cost' AS kind,
           {payments.minor_units("amount")} AS amount, 0::bigint AS fee,
           {payments.minor_units("amount")} AS net, r.currency, 'ok' AS status,
           (CASE WHEN length(r.period) = 7 THEN r.period || '-01' ELSE r.period END)::timestamp
             AT TIME ZONE :tz AS at,
           NULL::date AS settled_on, NULL::varchar AS payout_id, r.invoice_number AS ref,
           r.partner_code AS category, NULL::varchar AS charge_id,
           NULL::varchar AS payment_intent, NULL::varchar AS our_ref
    FROM recon_raw r
    """,  # noqa: S608 - constant SQL
)
