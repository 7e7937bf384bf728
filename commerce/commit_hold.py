"""The capacity hold and the COMMIT in one round trip to PostgreSQL.

Under a rush every order queues for the hot offer's row lock, and the lock lives from the
conditional UPDATE until COMMIT. Sent as two statements, the lock is also held while the
UPDATE's answer travels back and its coroutine waits its turn in a busy event loop before
it can send COMMIT: that wait, not the database, capped throughput (a second server process
did not help). Sent as one simple-query batch, the row is locked only for as long as
PostgreSQL itself takes to update and commit.

The guard is unchanged: each statement is the same conditional UPDATE, and one that updates
no row divides by zero, which aborts the batch before its COMMIT, so the order rolls back
with everything else written in the transaction. Values are inlined (simple-query batches
take no parameters), so only our own 32-hex ids and integers ever reach the SQL; anything
else takes the ordinary two-round-trip path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.db import is_postgres
from core.errors import Busy

from .capacity import HeldLine, busy, hold, is_lock_busy, refuse
from .models import Offer

_OWN_ID = re.compile(r"[0-9a-f]{32}")
_NOT_HELD = "22012"  # division_by_zero: a conditional UPDATE matched no row


def _statement(line: HeldLine) -> str:
    q, price = int(line.quantity), int(line.unit_price)
    # Inlined on purpose (see module doc): the id matched _OWN_ID, the rest are ints.
    return (
        f"WITH taken AS (UPDATE offers SET available = available - {q}"  # noqa: S608
        f" WHERE id = '{line.offer_id}' AND available >= {q} AND price_amount = {price}"
        " RETURNING 1) SELECT 1 / count(*) FROM taken"
    )


async def hold_and_commit(session: AsyncSession, lines: Sequence[HeldLine]) -> None:
    """`capacity.hold` then commit the caller's transaction, in one round trip on PostgreSQL.

    Raises SoldOut or Busy like `hold`, with the transaction rolled back."""
    ordered = sorted(lines, key=lambda ln: ln.offer_id)
    if not is_postgres(session) or not all(_OWN_ID.fullmatch(ln.offer_id) for ln in ordered):
        await hold(session, ordered)
        await session.commit()
        return
    # BEGIN after COMMIT leaves an empty transaction for SQLAlchemy's own commit to close, so
    # its view and the server's agree (and PostgreSQL logs no "no transaction in progress").
    batch = ";\n".join([*map(_statement, ordered), "COMMIT", "BEGIN"])
    connection = await session.connection()
    driver: Any = (await connection.get_raw_connection()).driver_connection
    try:
        await driver.execute(batch)
    except Exception as exc:
        state = getattr(exc, "sqlstate", None)
        if not is_lock_busy(state) and state != _NOT_HELD:
            raise
        await session.rollback()
        if is_lock_busy(state):
            raise busy() from None
        for line in ordered:  # which line did not fit: the first that still does not
            await _refuse_if_short(session, line)
        raise Busy("seats moved while ordering; retry", retry_after=1) from None
    await session.commit()


async def _refuse_if_short(session: AsyncSession, line: HeldLine) -> None:
    offer = await session.get(Offer, line.offer_id, populate_existing=True)
    if offer is None or offer.available < line.quantity or offer.price_amount != line.unit_price:
        await refuse(session, line)
