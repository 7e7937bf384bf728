"""Stripe's side of the books: balance transactions (gross, fee, net, currency,
reporting_category, source ids, our metadata) and payouts, read through the SDK's
auto-pagination for a date range or for one payout, and merged into `recon_lines`.

Pages are read with no transaction open; each batch of lines is written in a short
transaction of its own (COPY + upsert), so memory holds one batch whatever the day's size.
The gateway's facts learnt on the way are recorded set-based: each payment's charge and
balance-transaction ids and its fee (booked once in the ledger, `gateway_fees`), each
refund's balance transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import UpstreamUnavailable, ValidationFailed
from payments import domain, recon_store
from payments.gateway import GatewayError, GatewayNotFound, GatewayUnknown
from payments.recon import Progress, reconcile
from payments.recon_models import ReconImport
from payments.recon_sources import STRIPE
from payments.recon_store import Sessions

log = structlog.get_logger("hotline.payments.recon")
BATCH = 2000
TOPIC_PAYOUT_PAID = "payments.payout_paid"  # a payout arrived: import and reconcile it


@runtime_checkable
class StripeReports(Protocol):
    def balance_transactions(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    def payouts(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def payout(self, payout_id: str) -> dict[str, Any]: ...


def reports_of(gateway: object) -> StripeReports:
    if not all(hasattr(gateway, m) for m in ("balance_transactions", "payouts", "payout")):
        raise ValidationFailed.field("source", "Stripe is not configured here (HOTLINE_STRIPE_*)")
    return gateway  # type: ignore[return-value]


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None


def _when(ts: Any) -> datetime:
    return datetime.fromtimestamp(int(ts), UTC)


def line_of(txn: dict[str, Any], payout_id: str | None) -> tuple[Any, ...]:
    """A balance transaction as STAGE_COLUMNS; the key says what in our books it answers."""
    src = txn.get("source")
    obj: dict[str, Any] = src if isinstance(src, dict) else {}
    source_id = _id(src) or ""
    category = str(txn.get("reporting_category") or txn.get("type") or "")
    intent = _id(obj.get("payment_intent"))
    charge = source_id if source_id.startswith(("ch_", "py_")) else _id(obj.get("charge"))
    if category == "charge" or txn.get("type") in ("charge", "payment"):
        kind, key = "charge", f"pi:{intent}" if intent else f"ch:{source_id}"
    elif category == "refund" or txn.get("type") in ("refund", "payment_refund"):
        kind, key = "refund", f"re:{source_id}"
    elif category in ("dispute", "dispute_reversal"):
        kind, key = "dispute", f"dp:{intent}" if intent else f"dp:{source_id}"
    elif category == "payout" or txn.get("type") == "payout":
        kind, key = "payout", f"po:{source_id}"
    else:  # fees, adjustments, transfers: nothing in our books answers them
        kind, key = "adjustment", f"adj:{txn['id']}"
    amount, fee = int(txn.get("amount") or 0), int(txn.get("fee") or 0)
    available = txn.get("available_on")
    return (
        str(txn["id"]),
        key[:120],
        kind,
        amount,
        fee,
        amount - fee if txn.get("net") is None else int(txn["net"]),
        str(txn.get("currency") or "").upper()[:3],
        "ok" if txn.get("status") in (None, "available", "pending") else str(txn["status"])[:16],
        _when(txn.get("created") or 0),
        date.fromtimestamp(int(available)) if available else None,
        payout_id,
        source_id[:120] or None,
        category[:40] or None,
        charge,
        intent,
        ((obj.get("metadata") or {}).get("payment_id") or None),
    )


# Fees and ids the import learnt, onto our payments and refunds; a fee is booked once.
_FACTS_SQL = (
    """CREATE TEMP TABLE IF NOT EXISTS recon_fees (payment_id varchar(32), order_id varchar(32),
       order_number varchar(32), currency varchar(3), fee bigint) ON COMMIT DROP""",
    """WITH f AS (
         SELECT payment_intent, sum(fee) AS fee, min(charge_id) AS charge_id,
                min(line_id) AS txn
         FROM recon_stage WHERE kind = 'charge' AND payment_intent IS NOT NULL
         GROUP BY payment_intent
       ), u AS (
         UPDATE payments p SET fee_amount = f.fee,
                charge_id = coalesce(p.charge_id, f.charge_id),
                balance_transaction_id = coalesce(p.balance_transaction_id, f.txn)
         FROM f WHERE p.intent_id = f.payment_intent AND p.fee_amount IS NULL
           AND p.status = 'succeeded'
         RETURNING p.id, p.order_id, p.order_number, p.currency, f.fee
       ) INSERT INTO recon_fees SELECT * FROM u""",
    """INSERT INTO ledger_transactions (id, kind, order_id, payment_id, refund_id, memo, at)
       SELECT md5('gateway_fee:' || payment_id), 'gateway_fee', order_id, payment_id, NULL,
              'stripe fee, order ' || order_number, :now FROM recon_fees WHERE fee <> 0""",
    f"""INSERT INTO ledger_entries (id, transaction_id, account, amount, currency, at)
       SELECT md5('gateway_fee:' || payment_id || side), md5('gateway_fee:' || payment_id),
              account, amount, currency, :now
       FROM recon_fees,
            LATERAL (VALUES ('/d', '{domain.GATEWAY_FEES}', fee),
                            ('/c', '{domain.GATEWAY_CLEARING}', -fee)) v(side, account, amount)
       WHERE fee <> 0""",  # noqa: S608 - constant SQL
    """TRUNCATE recon_fees""",
    """UPDATE refunds r SET balance_transaction_id = l.line_id
       FROM recon_stage l WHERE l.kind = 'refund' AND r.gateway_ref = l.ref
         AND r.balance_transaction_id IS NULL""",
)


async def _write(
    session: AsyncSession, batch: list[tuple[Any, ...]], imp: str, now: datetime
) -> tuple[int, int]:
    await recon_store.stage_records(session, batch)
    counts = await recon_store.merge(session, "stripe", imp)
    for sql in _FACTS_SQL:
        await session.execute(text(sql), {"imp": imp, "now": now})
    return counts


async def _save_payout(session: AsyncSession, po: dict[str, Any], imp: str) -> None:
    await session.execute(
        text(
            """INSERT INTO recon_payouts (id, amount, currency, status, arrival_at, created_at,
                   import_id)
               VALUES (:id, :amount, :currency, :status, :arrival, :created, :imp)
               ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount,
                   currency = EXCLUDED.currency, status = EXCLUDED.status,
                   arrival_at = EXCLUDED.arrival_at, import_id = EXCLUDED.import_id
               WHERE (recon_payouts.amount, recon_payouts.currency, recon_payouts.status,
                      recon_payouts.arrival_at)
                     IS DISTINCT FROM (EXCLUDED.amount, EXCLUDED.currency, EXCLUDED.status,
                                       EXCLUDED.arrival_at)"""
        ),
        {
            "id": po["id"],
            "amount": int(po.get("amount") or 0),
            "currency": str(po.get("currency") or "").upper()[:3],
            "status": str(po.get("status") or "")[:16],
            "arrival": _when(po.get("arrival_date") or po.get("created") or 0),
            "created": _when(po.get("created") or 0),
            "imp": imp,
        },
    )


async def import_stripe(
    sessions: Sessions,
    reports: StripeReports,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    payout_id: str | None = None,
    actor: str,
    now: datetime,
    progress: Progress | None = None,
    page_size: int = 100,
) -> ReconImport:
    """Import balance transactions created in [start, end) (and payouts arriving then), or
    those of one payout; idempotent, a recorded run."""
    say = progress or (lambda _: None)
    params: dict[str, Any] = {"limit": page_size, "expand": ["data.source"]}
    if payout_id:
        params["payout"] = payout_id
        label = f"payout {payout_id}"
    else:
        assert start is not None and end is not None
        params["created"] = {"gte": int(start.timestamp()), "lt": int(end.timestamp())}
        label = f"{start.isoformat()}..{end.isoformat()}"
    imp = await recon_store.start_import(
        sessions,
        source="stripe",
        kind="stripe_payout" if payout_id else "stripe_range",
        params=label,
        actor=actor,
        now=now,
    )
    read = new = changed = 0
    try:
        payouts: list[dict[str, Any]] = []
        if payout_id:
            payouts.append(await reports.payout(payout_id))
        else:
            window = {"gte": params["created"]["gte"], "lt": params["created"]["lt"]}
            async for po in reports.payouts({"limit": 100, "arrival_date": window}):
                payouts.append(po)  # a day has a handful of payouts
        async with sessions() as session, session.begin():
            for po in payouts:
                await _save_payout(session, po, imp)
        batch: list[tuple[Any, ...]] = []
        async for txn in reports.balance_transactions(params):
            batch.append(line_of(txn, payout_id))
            if len(batch) >= BATCH:
                async with sessions() as session, session.begin():
                    n, c = await _write(session, batch, imp, now)
                read, new, changed = read + len(batch), new + n, changed + c
                batch = []
                say(f"{read} transactions")
        if batch:
            async with sessions() as session, session.begin():
                n, c = await _write(session, batch, imp, now)
            read, new, changed = read + len(batch), new + n, changed + c
            say(f"{read} transactions")
    except (GatewayError, GatewayUnknown) as exc:
        await recon_store.finish_import(
            sessions, imp, counts=(read, new, changed), now=now, error=str(exc)
        )
        if isinstance(exc, GatewayNotFound):
            raise ValidationFailed.field("payout", f"Stripe has no payout {payout_id}") from exc
        raise UpstreamUnavailable("Stripe did not answer the import; try again") from exc
    except Exception as exc:
        await recon_store.finish_import(
            sessions, imp, counts=(read, new, changed), now=now, error=repr(exc)
        )
        raise
    return await recon_store.finish_import(sessions, imp, counts=(read, new, changed), now=now)


async def payout_job(
    sessions: Sessions, gateway: object, payout_id: str, *, window: timedelta, now: datetime
) -> str:
    """`payout.paid` / `payout.reconciliation_completed`: import the payout's transactions
    and reconcile them (both idempotent: a redelivered job changes nothing); the run's id
    ("" when this process has no Stripe to ask)."""
    actor = "system:stripe-payout"
    if not isinstance(gateway, StripeReports):  # retrying will not configure Stripe
        log.warning("payout not imported: Stripe is not configured", payout=payout_id)
        return ""
    await import_stripe(sessions, gateway, payout_id=payout_id, actor=actor, now=now)
    run = await reconcile(
        sessions,
        STRIPE,
        start=None,
        end=None,
        payout_id=payout_id,
        window=window,
        actor=actor,
        now=now,
    )
    return run.id
