"""What supervisors and finance must look at (auto refunds, late successes, disputes...):
newest first, keyset-paged with an opaque cursor that stays stable under inserts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import new_id
from core.outbox import emit
from core.paging import keyset, page_of
from payments.models import Payment, PaymentIncident

TOPIC_PAYMENT_INCIDENT = "payment.incident"


def incident(
    session: AsyncSession, payment: Payment, kind: str, detail: str, now: datetime
) -> None:
    """Record it for supervisors and tell the worker side (outbox, same transaction)."""
    row = PaymentIncident(
        id=new_id(),
        payment_id=payment.id,
        order_id=payment.order_id,
        kind=kind,
        detail=detail[:300],
        created_at=now,
    )
    session.add(row)
    emit(
        session,
        TOPIC_PAYMENT_INCIDENT,
        {
            "incident_id": row.id,
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "kind": kind,
        },
        now=now,
    )


async def list_incidents(
    session: AsyncSession, *, limit: int = 50, cursor: str | None = None, kind: str | None = None
) -> tuple[list[PaymentIncident], str | None]:
    """One page of incidents and the cursor of the next (None on the last page)."""
    stmt = select(PaymentIncident)
    if kind:
        stmt = stmt.where(PaymentIncident.kind == kind)
    stmt = keyset(stmt, PaymentIncident.created_at, PaymentIncident.id, cursor=cursor, limit=limit)
    page = page_of(list(await session.scalars(stmt)), limit, lambda i: (i.created_at, i.id))
    return page.items, page.next_cursor
