"""Carrier billing on PostgreSQL: concurrent charges against one balance never overdraw;
a canary shows the race when the guard (the conditional UPDATE) is replaced by read-then-write.
Top-ups reach existing customers only, from the room and from `hotline top-up`."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

import api.admin_cli  # noqa: F401 - registers the commands
from api.cli import main
from api.migrate import upgrade
from core.errors import NotFound
from core.runtime import Runtime
from payments import carrier
from payments.errors import InsufficientCredit
from payments.models import PhoneAccount, PhoneAccountMovement
from tests.auth_fixtures import make_customer


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
    customer = (await make_customer(runtime)).id
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


async def test_top_up_of_an_unknown_customer_is_404_and_writes_nothing(runtime: Runtime) -> None:
    ghost = uuid.uuid4().hex
    with pytest.raises(NotFound, match=ghost):
        async with runtime.sessions() as s, s.begin():
            await carrier.top_up(
                s, ghost, 100, reference=f"r-{ghost}", actor="agent:admin", currency="CNY",
                now=runtime.clock.now(), credit_limit=5000,
            )  # fmt: skip
    async with runtime.sessions() as s:
        assert (
            await s.scalar(select(PhoneAccount.id).where(PhoneAccount.customer_id == ghost)) is None
        )
        moved = select(func.count()).where(PhoneAccountMovement.reference == f"r-{ghost}")
        assert await s.scalar(moved) == 0


def test_cli_top_up_refuses_an_unknown_customer(tmp_path: Path) -> None:
    """`hotline top-up` for a mistyped id says so and exits 1; a real customer gets the money."""
    path = tmp_path / "hotline.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    env = {"HOTLINE_ENV": "test", "HOTLINE_DATABASE_URL": f"sqlite+aiosqlite:///{path}",
           "HOTLINE_REDIS_URL": ""}  # fmt: skip
    result = CliRunner().invoke(
        main, ["top-up", "--customer-id", "nope", "--amount", "1.00"], env=env
    )
    assert result.exit_code == 1, result.output
    assert "no customer nope" in result.output and "balance" not in result.output
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM phone_accounts").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM phone_account_movements").fetchone() == (0,)
    made = CliRunner().invoke(
        main, ["create-customer", "--phone", "+8613712345678", "--pin", "305817"], env=env
    )
    assert made.exit_code == 0, made.output
    with sqlite3.connect(path) as db:
        (customer_id,) = db.execute("SELECT id FROM customers").fetchone()
    result = CliRunner().invoke(
        main, ["top-up", "--customer-id", customer_id, "--amount", "1.00"], env=env
    )
    assert result.exit_code == 0 and "balance 1.00" in result.output, result.output
