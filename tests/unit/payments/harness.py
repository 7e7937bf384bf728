"""A throwaway SQLite database with the payments tables, and helpers for unit tests."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import payments.models as m
from core.db import Base, make_engine, make_sessionmaker
from core.outbox import OutboxMessage
from payments.orders import OrderInfo

TABLES = [
    Base.metadata.tables[t.__tablename__]
    for t in (
        m.Payment,
        m.PaymentHistory,
        m.Refund,
        m.WebhookReceipt,
        m.PaymentIncident,
        m.PhoneAccount,
        m.PhoneAccountMovement,
        m.LedgerTransaction,
        m.LedgerEntry,
        OutboxMessage,
    )
]


@asynccontextmanager
async def sqlite_sessions() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'pay.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=TABLES))
        try:
            yield make_sessionmaker(engine)
        finally:
            await engine.dispose()


def order(
    customer_id: str,
    subtotal: int = 10000,
    booking_fee: int = 500,
    delivery_fee: int = 0,
    *,
    minutes: int = 15,
) -> OrderInfo:
    now = datetime.now(UTC)
    return OrderInfo(
        id=uuid.uuid4().hex,
        number=uuid.uuid4().hex[:6].upper(),
        customer_id=customer_id,
        status="awaiting_payment",
        currency="CNY",
        subtotal=subtotal,
        booking_fee=booking_fee,
        delivery_fee=delivery_fee,
        total=subtotal + booking_fee + delivery_fee,
        hold_expires_at=now + timedelta(minutes=minutes),
        customer_phone="+8613800138000",
    )
