"""What supervisors and finance must look at (auto refunds, late successes, disputes...):
newest first, keyset-paged with an opaque cursor that stays stable under inserts."""

from __future__ import annotations

import base64
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import new_id
from core.errors import ValidationFailed
from core.outbox import emit
from payments.models import Payment, PaymentIncident


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
        "payment.incident",
        {
            "incident_id": row.id,
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "kind": kind,
        },
        now=now,
    )


def _encode(at: datetime, last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{last_id}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, last_id = raw.split("|", 1)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not last_id:
            raise ValueError
        return when, last_id
    except ValueError:
        raise ValidationFailed.field("cursor", "not a cursor from this list") from None


async def list_incidents(
    session: AsyncSession, *, limit: int = 50, cursor: str | None = None, kind: str | None = None
) -> tuple[list[PaymentIncident], str | None]:
    """One page of incidents and the cursor of the next (None on the last page)."""
    stmt = select(PaymentIncident)
    if kind:
        stmt = stmt.where(PaymentIncident.kind == kind)
    if cursor:
        at, last_id = _decode(cursor)
        stmt = stmt.where(
            or_(
                PaymentIncident.created_at < at,
                and_(PaymentIncident.created_at == at, PaymentIncident.id < last_id),
            )
        )
    rows = list(
        await session.scalars(
            stmt.order_by(PaymentIncident.created_at.desc(), PaymentIncident.id.desc()).limit(
                limit + 1
            )
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (_encode(rows[-1].created_at, rows[-1].id) if more and rows else None)
