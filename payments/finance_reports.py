"""Finance's daily takings, read from the ledger (the books, not the attempts): per business
day, channel (phone, sms, web) and method (card, carrier_billing), in each currency:
takings captured, gateway fees, refunds, disputes, delivery costs owed to partners, and net.

Days are cut in the business time zone (HOTLINE_TIMEZONE) unless asked for UTC. A delivery
cost carries no payment, so it is counted under the channel and method of the order's
successful payment. PostgreSQL only (time-zone arithmetic in SQL): the SQLite demo refuses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from core.money import major_units
from core.text import BOM, spreadsheet_line
from payments import domain
from payments.recon_store import require_postgres

DELIVERY_COST = "delivery_cost"  # fulfillment's expense account (fulfillment.service)

_DAILY_SQL = f"""
SELECT (t.at AT TIME ZONE :tz)::date AS day,
       coalesce(p.channel, q.channel, '') AS channel,
       coalesce(p.method, q.method, '') AS method,
       e.currency,
       coalesce(sum(e.amount) FILTER (WHERE t.kind = 'capture'
           AND e.account IN ('{domain.GATEWAY_CLEARING}', '{domain.CARRIER_CLEARING}')), 0),
       coalesce(sum(e.amount) FILTER (WHERE e.account = '{domain.GATEWAY_FEES}'), 0),
       coalesce(sum(e.amount) FILTER (WHERE e.account = '{domain.REFUNDS}'), 0),
       coalesce(sum(e.amount) FILTER (WHERE e.account = '{domain.DISPUTES}'), 0),
       coalesce(sum(e.amount) FILTER (WHERE e.account = '{DELIVERY_COST}'), 0),
       count(DISTINCT t.payment_id) FILTER (WHERE t.kind = 'capture')
FROM ledger_transactions t
JOIN ledger_entries e ON e.transaction_id = t.id
LEFT JOIN payments p ON p.id = t.payment_id
LEFT JOIN LATERAL (
    SELECT x.channel, x.method FROM payments x
    WHERE t.payment_id IS NULL AND x.order_id = t.order_id AND x.status = 'succeeded' LIMIT 1
) q ON true
WHERE t.at >= :start AND t.at < :end
  AND t.kind IN ('capture', 'gateway_fee', 'refund', 'dispute', 'partner_delivery_cost')
GROUP BY 1, 2, 3, 4
ORDER BY 1, 2, 3, 4
"""  # noqa: S608 - account names are constants; values are bound


@dataclass(frozen=True)
class DailyRow:
    day: date
    channel: str
    method: str
    currency: str
    takings: int
    fees: int
    refunds: int
    disputes: int
    partner_payables: int
    payments: int

    @property
    def net(self) -> int:
        return self.takings - self.fees - self.refunds - self.disputes - self.partner_payables


async def daily(
    session: AsyncSession, *, start: datetime, end: datetime, tz: str
) -> AsyncIterator[DailyRow]:
    """One row per day, channel, method and currency with anything booked in [start, end)."""
    require_postgres(session)
    rows = await session.stream(text(_DAILY_SQL), {"tz": tz, "start": start, "end": end})
    async for r in rows:
        yield DailyRow(
            r[0],
            r[1],
            r[2],
            r[3],
            int(r[4]),
            int(r[5]),
            int(r[6]),
            int(r[7]),
            int(r[8]),
            int(r[9]),
        )


def row_json(r: DailyRow) -> dict[str, Any]:
    def money(amount: int) -> dict[str, Any]:
        return {"amount": amount, "currency": r.currency}

    return {
        "day": r.day.isoformat(),
        "channel": r.channel,
        "method": r.method,
        "payments": r.payments,
        "takings": money(r.takings),
        "fees": money(r.fees),
        "refunds": money(r.refunds),
        "disputes": money(r.disputes),
        "partner_payables": money(r.partner_payables),
        "net": money(r.net),
    }


CSV_HEADER = (
    "day",
    "channel",
    "method",
    "currency",
    "payments",
    "takings",
    "fees",
    "refunds",
    "disputes",
    "partner_payables",
    "net",
)


async def daily_csv(rows: AsyncIterator[DailyRow]) -> AsyncIterator[str]:
    """The same rows for a spreadsheet: BOM, amounts in major units beside their currency."""
    yield BOM + spreadsheet_line(CSV_HEADER)
    async for r in rows:
        yield spreadsheet_line(
            (
                r.day.isoformat(),
                r.channel,
                r.method,
                r.currency,
                r.payments,
                *(
                    major_units(a)
                    for a in (
                        r.takings,
                        r.fees,
                        r.refunds,
                        r.disputes,
                        r.partner_payables,
                        r.net,
                    )
                ),
            )
        )
