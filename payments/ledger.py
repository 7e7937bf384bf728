"""The double-entry ledger: one balanced transaction per money movement, same DB transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_many, new_id
from core.money import major_units
from core.text import BOM, spreadsheet_line
from payments.domain import Posting, is_balanced
from payments.models import LedgerEntry, LedgerTransaction, Payment


class UnbalancedTransaction(ValueError):
    pass


async def post(
    session: AsyncSession,
    kind: str,
    postings: Sequence[Posting],
    *,
    currency: str,
    now: datetime,
    memo: str,
    order_id: str | None = None,
    payment_id: str | None = None,
    refund_id: str | None = None,
) -> LedgerTransaction:
    """Write one transaction; refuse any that does not sum to zero."""
    txn, entries = transaction(
        kind,
        postings,
        currency=currency,
        now=now,
        memo=memo,
        order_id=order_id,
        payment_id=payment_id,
        refund_id=refund_id,
    )
    session.add(txn)
    await session.flush()
    session.add_all(entries)
    return txn


def transaction(
    kind: str,
    postings: Sequence[Posting],
    *,
    currency: str,
    now: datetime,
    memo: str,
    order_id: str | None = None,
    payment_id: str | None = None,
    refund_id: str | None = None,
) -> tuple[LedgerTransaction, list[LedgerEntry]]:
    """The rows of one balanced transaction (`post` writes them). Refuses any that does not
    sum to zero."""
    txn, entries = transaction_rows(
        kind, postings, currency=currency, now=now, memo=memo, order_id=order_id,
        payment_id=payment_id, refund_id=refund_id,
    )  # fmt: skip
    return LedgerTransaction(**txn), [LedgerEntry(**e) for e in entries]


async def post_rows(
    session: AsyncSession, rows: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]]
) -> None:
    """Write many transactions made by `transaction_rows` (balanced by construction) in two
    INSERTs, the transactions before the entries that refer to them: a set-wise job's
    bookings without an ORM object and a flush each."""
    if not rows:
        return
    await insert_many(session, LedgerTransaction, [txn for txn, _ in rows])
    entries = [e for _, txn_entries in rows for e in txn_entries]
    if entries:
        await insert_many(session, LedgerEntry, entries)


def transaction_rows(
    kind: str,
    postings: Sequence[Posting],
    *,
    currency: str,
    now: datetime,
    memo: str,
    order_id: str | None = None,
    payment_id: str | None = None,
    refund_id: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`transaction`'s rows as column values by name, its one source: the one-statement carrier
    charge (payments/carrier_pg.py) hands them to its function as they are, since building ORM
    instances only to read them back was a third of that charge's Python time."""
    if not postings or not is_balanced(postings):
        raise UnbalancedTransaction(f"{kind}: postings do not balance: {postings}")
    txn_id = new_id()
    txn = {"id": txn_id, "kind": kind, "order_id": order_id, "payment_id": payment_id,
           "refund_id": refund_id, "memo": memo[:300], "at": now}  # fmt: skip
    entries = [
        {"id": new_id(), "transaction_id": txn_id, "account": p.account, "amount": p.amount,
         "currency": currency, "at": now}
        for p in postings
        if p.amount
    ]  # fmt: skip
    return txn, entries


async def balances(
    session: AsyncSession, *, order_ids: Sequence[str] | None = None
) -> dict[tuple[str, str], int]:
    """Sum per (account, currency), optionally only for some orders."""
    stmt = (
        select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .group_by(LedgerEntry.account, LedgerEntry.currency)
    )
    if order_ids is not None:
        stmt = stmt.where(LedgerTransaction.order_id.in_(list(order_ids)))
    rows = await session.execute(stmt)
    return {(a, c): int(s) for a, c, s in rows}


CSV_HEADER = (
    "at",
    "transaction_id",
    "kind",
    "order_number",
    "order_id",
    "payment_id",
    "refund_id",
    "account",
    "debit",
    "credit",
    "currency",
    "memo",
)


async def export_lines(
    session: AsyncSession,
    *,
    start: datetime | None,
    end: datetime | None,
    zone: tzinfo,
    batch: int = 2000,
) -> AsyncIterator[str]:
    """The ledger in [start, end) as CSV lines for a spreadsheet, streamed: a byte-order mark
    (Excel reads UTF-8 then), times in `zone`, amounts in major units, the order number, and
    no cell a spreadsheet would run as a formula (a memo is text from outside)."""
    number = (
        select(Payment.order_number)
        .where(Payment.order_id == LedgerTransaction.order_id)
        .limit(1)
        .scalar_subquery()
    )
    stmt = (
        select(LedgerEntry, LedgerTransaction, number)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .order_by(LedgerTransaction.at, LedgerTransaction.id, LedgerEntry.account)
        .execution_options(yield_per=batch)
    )
    if start is not None:
        stmt = stmt.where(LedgerTransaction.at >= start)
    if end is not None:
        stmt = stmt.where(LedgerTransaction.at < end)
    yield BOM + spreadsheet_line(CSV_HEADER)
    async for entry, txn, order_number in await session.stream(stmt):
        yield spreadsheet_line(
            (
                txn.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                txn.id,
                txn.kind,
                order_number or "",
                txn.order_id or "",
                txn.payment_id or "",
                txn.refund_id or "",
                entry.account,
                major_units(max(entry.amount, 0)),
                major_units(max(-entry.amount, 0)),
                entry.currency,
                txn.memo,
            )
        )
