"""Carrier billing on PostgreSQL: concurrent charges against one balance never overdraw;
a canary shows the race when the guard (the conditional UPDATE) is replaced by read-then-write."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import select, update

from core.runtime import Runtime
from payments import carrier
from payments.errors import InsufficientCredit
from payments.models import PhoneAccount, PhoneAccountMovement


async def _account(runtime: Runtime, balance: int, limit: int) -> str:
    customer = uuid.uuid4().hex
    async with runtime.sessions() as s, s.begin():
        await carrier.open_account(
            s,
            customer,
            currency="CNY",
            now=runtime.clock.now(),
            balance=balance,
            credit_limit=limit,
        )
    return customer


async def test_concurrent_charges_never_overdraw(runtime: Runtime) -> None:
    customer = await _account(runtime, balance=5000, limit=3000)  # room for 8 charges of 1000

    async def charge(i: int) -> bool:
        try:
            async with runtime.sessions() as s, s.begin():
                await carrier.debit(
                    s,
                    customer,
                    1000,
                    currency="CNY",
                    reference=f"c{i}",
                    actor="system:test",
                    now=runtime.clock.now(),
                )
            return True
        except InsufficientCredit:
            return False

    results = await asyncio.gather(*(charge(i) for i in range(16)))
    assert sum(results) == 8
    async with runtime.sessions() as s:
        acct = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == customer))
        assert acct is not None and acct.balance == -3000
        moves = list(
            await s.scalars(
                select(PhoneAccountMovement.amount).where(
                    PhoneAccountMovement.account_id == acct.id
                )
            )
        )
    assert sorted(moves) == [-1000] * 8


async def test_canary_read_then_write_overdraws(runtime: Runtime) -> None:
    """Without the conditional UPDATE, interleaved charges pass the check on a stale balance."""
    customer = await _account(runtime, balance=5000, limit=3000)

    async def naive_charge() -> None:
        async with runtime.sessions() as s, s.begin():
            acct = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == customer))
            assert acct is not None
            if acct.balance - 1000 < -acct.credit_limit:
                return
            await asyncio.sleep(0.02)  # the window every real request has
            await s.execute(
                update(PhoneAccount)
                .where(PhoneAccount.id == acct.id)
                .values(balance=PhoneAccount.balance - 1000)
            )

    await asyncio.gather(*(naive_charge() for _ in range(16)))
    async with runtime.sessions() as s:
        acct = await s.scalar(select(PhoneAccount).where(PhoneAccount.customer_id == customer))
    assert acct is not None and acct.balance < -acct.credit_limit, "the race did not show"


async def test_top_up_is_idempotent_by_reference(runtime: Runtime) -> None:
    customer = await _account(runtime, balance=0, limit=0)
    for _ in range(2):
        async with runtime.sessions() as s, s.begin():
            acct = await carrier.top_up(
                s,
                customer,
                2500,
                reference="receipt-1",
                actor="agent:admin",
                currency="CNY",
                now=runtime.clock.now(),
            )
    assert acct.balance == 2500
