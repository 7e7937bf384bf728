"""Carrier billing (话费代扣): the charge lands on the subscriber's phone account.

A debit is one conditional UPDATE (`balance - amount >= -credit_limit`), so concurrent
charges against one account can never overdraw it, on PostgreSQL and on SQLite alike.
"""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

import auth
from core.db import new_id
from core.drivers import as_rows
from core.errors import NotFound, ValidationFailed
from core.money import MAX_AMOUNT, MAX_BALANCE
from core.text import check_plain_text
from payments.errors import InsufficientCredit
from payments.models import PhoneAccount, PhoneAccountMovement


async def account_for(session: AsyncSession, customer_id: str) -> PhoneAccount | None:
    found: PhoneAccount | None = await session.scalar(
        select(PhoneAccount).where(PhoneAccount.customer_id == customer_id)
    )
    return found


async def account_on(driver: Any, customer_id: str) -> Any | None:
    """`account_for` on an asyncpg connection (core.drivers): balance and credit as a row."""
    found = await driver.fetchrow(
        "SELECT id, customer_id, balance, credit_limit, currency FROM phone_accounts"
        " WHERE customer_id = $1",
        customer_id,
    )
    return None if found is None else as_rows([found])[0]


# The customer (auth.get_customer_on's columns) with their phone account (`account_on`'s),
# as columns and FROM of one statement: `customer_account_on`, or a page folding more into it
# (web/console/caller.py).
CUSTOMER_ACCOUNT_COLUMNS = (
    "c.id, c.phone, c.name, c.locale, c.pin_hash, c.locked, c.created_at,"
    " a.id AS account_id, a.balance, a.credit_limit, a.currency"
)
CUSTOMER_ACCOUNT_FROM = "customers c LEFT JOIN phone_accounts a ON a.customer_id = c.id"


def customer_account_from(found: Any) -> tuple[Any, Any | None]:
    customer = SimpleNamespace(
        id=found["id"], phone=found["phone"], name=found["name"], locale=found["locale"],
        pin_hash=found["pin_hash"], locked=found["locked"], created_at=found["created_at"],
    )  # fmt: skip
    if found["account_id"] is None:
        return customer, None
    account = SimpleNamespace(
        id=found["account_id"], customer_id=found["id"], balance=found["balance"],
        credit_limit=found["credit_limit"], currency=found["currency"],
    )  # fmt: skip
    return customer, account


async def customer_account_on(driver: Any, customer_id: str) -> tuple[Any, Any | None]:
    """auth.get_customer_on and `account_on` in one statement (the caller's record opens
    with both on every read, and each statement is a round trip to PostgreSQL: ~35 us of
    the server's CPU, bench/console.py): the same rows, NotFound for no such customer.
    tests/integration/web/test_console_record_pg.py compares it with the two reads."""
    found = await driver.fetchrow(
        f"SELECT {CUSTOMER_ACCOUNT_COLUMNS} FROM {CUSTOMER_ACCOUNT_FROM} WHERE c.id = $1",  # noqa: S608
        customer_id,
    )
    if found is None:
        raise NotFound("no such customer")
    return customer_account_from(found)


async def lock_account(session: AsyncSession, customer_id: str) -> None:
    """Hold the customer's account row until the transaction ends (no-op without one: the
    debit then refuses). Only one carrier charge per customer is decided at a time."""
    await session.execute(
        select(PhoneAccount.id).where(PhoneAccount.customer_id == customer_id).with_for_update()
    )


async def open_account(
    session: AsyncSession,
    customer_id: str,
    *,
    currency: str,
    now: datetime,
    balance: int = 0,
    credit_limit: int = 0,
) -> PhoneAccount:
    """The customer's account, created if missing (idempotent)."""
    if credit_limit < 0:
        raise ValidationFailed.field("credit_limit", "must not be negative")
    existing = await account_for(session, customer_id)
    if existing is not None:
        return existing
    account = PhoneAccount(
        customer_id=customer_id,
        balance=balance,
        credit_limit=credit_limit,
        currency=currency,
        version=0,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return account


async def _movement(
    session: AsyncSession,
    account_id: str,
    amount: int,
    kind: str,
    reference: str,
    actor: str,
    now: datetime,
) -> None:
    session.add(movement(account_id, amount, kind, reference, actor, now))
    await session.flush()


def movement(
    account_id: str, amount: int, kind: str, reference: str, actor: str, now: datetime
) -> PhoneAccountMovement:
    """One line of the account's statement."""
    return PhoneAccountMovement(**movement_row(account_id, amount, kind, reference, actor, now))


def movement_row(
    account_id: str, amount: int, kind: str, reference: str, actor: str, now: datetime
) -> dict[str, Any]:
    """`movement`'s row as column values by name, its one source (the one-statement charge,
    payments/carrier_pg.py, hands it to its function as it is and fills in the account it
    locked)."""
    return {"id": new_id(), "account_id": account_id, "amount": amount, "kind": kind,
            "reference": reference, "actor": actor, "at": now}  # fmt: skip


async def top_up(
    session: AsyncSession,
    customer_id: str,
    amount: int,
    *,
    reference: str,
    actor: str,
    currency: str,
    now: datetime,
    credit_limit: int | None = None,
) -> PhoneAccount:
    """Add money (admin API and CLI) to an existing customer's account, opened if missing (404
    for no such customer); `reference` makes a repeated top-up a no-op."""
    check_plain_text("reference", reference)
    if not 0 <= amount <= MAX_AMOUNT:
        raise ValidationFailed.field("amount", f"must be 0 to {MAX_AMOUNT} minor units")
    if credit_limit is not None and not 0 <= credit_limit <= MAX_AMOUNT:
        raise ValidationFailed.field("credit_limit", f"must be 0 to {MAX_AMOUNT} minor units")
    # phone_accounts.customer_id has no foreign key, so without this a mistyped id got an
    # account (and money) no one can ever use. Customers are never deleted: reading is enough.
    if await session.get(auth.Customer, customer_id) is None:
        raise NotFound(f"no customer {customer_id}")
    account = await open_account(session, customer_id, currency=currency, now=now)
    seen = await session.scalar(
        select(PhoneAccountMovement.id).where(
            PhoneAccountMovement.kind == "topup", PhoneAccountMovement.reference == reference
        )
    )
    if seen is None:
        await _credit(session, account.id, amount, now)
        await _movement(session, account.id, amount, "topup", reference, actor, now)
    if credit_limit is not None:
        await session.execute(
            update(PhoneAccount)
            .where(PhoneAccount.id == account.id)
            .values(credit_limit=credit_limit)
        )
    await session.refresh(account)
    return account


async def _credit(session: AsyncSession, account_id: str, amount: int, now: datetime) -> None:
    """Conditional, like a debit: a balance is never pushed past MAX_BALANCE (nor the column)."""
    result = await session.execute(
        update(PhoneAccount)
        .where(PhoneAccount.id == account_id, PhoneAccount.balance <= MAX_BALANCE - amount)
        .values(
            balance=PhoneAccount.balance + amount, version=PhoneAccount.version + 1, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise ValidationFailed.field(
            "amount", f"the account's balance may not exceed {MAX_BALANCE} minor units"
        )


async def debit(
    session: AsyncSession,
    customer_id: str,
    amount: int,
    *,
    currency: str,
    reference: str,
    actor: str,
    now: datetime,
) -> PhoneAccount:
    """Charge the account atomically or raise 402 insufficient-credit (nothing written)."""
    account = await account_for(session, customer_id)
    if account is None:
        raise NotFound("this customer has no phone account for carrier billing")
    if account.currency != currency:
        raise ValidationFailed.field("method", f"phone account is in {account.currency}")
    result = await session.execute(
        update(PhoneAccount)
        .where(
            PhoneAccount.id == account.id,
            PhoneAccount.balance - amount >= -PhoneAccount.credit_limit,
        )
        .values(
            balance=PhoneAccount.balance - amount, version=PhoneAccount.version + 1, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise InsufficientCredit(
            "balance and credit limit do not cover this charge",
            extra={"balance": account.balance, "credit_limit": account.credit_limit},
        )
    await _movement(session, account.id, -amount, "charge", reference, actor, now)
    await session.refresh(account)
    return account


async def credit_back(
    session: AsyncSession,
    account_id: str,
    amount: int,
    *,
    reference: str,
    actor: str,
    now: datetime,
) -> None:
    """A refund credits the account back."""
    await _credit(session, account_id, amount, now)
    await _movement(session, account_id, amount, "refund", reference, actor, now)
