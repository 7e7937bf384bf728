"""Use cases of the auth room (customers, PIN checks, caller verification; one-time codes in
auth.codes, agents in auth.agents). Functions take the request's session and never commit.

Audit rows of what succeeds go into the request's session (they commit with the change). Rows
of refusals, whose request rolls back, are written in their own short transaction, and only
before the request's session has written anything: SQLite has a single writer, so a second
connection writing while the request holds the write lock would wait and fail."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from auth import hashing, tokens
from auth.domain import pin_problem
from auth.errors import AccountLocked, CallerPinWrong, CurrentSecretWrong, VerificationRequired
from auth.models import Agent, AuditEvent, CallerVerification, Customer
from auth.throttle import Throttle
from core.db import new_id
from core.drivers import as_rows
from core.errors import (
    Conflict,
    DomainError,
    InvalidCredentials,
    NotFound,
    Throttled,
    ValidationFailed,
)
from core.phone import InvalidPhone, normalise_phone
from core.principal import Principal
from core.runtime import Runtime
from core.settings import Settings
from core.text import check_plain_text


def build_throttle(runtime: Runtime) -> Throttle:
    """The credential throttle of this process. Build it once and pass it around (its memory
    fallback must be one per process; api.composition keeps it)."""
    s = runtime.settings
    return Throttle(
        runtime.redis,
        s.redis_prefix,
        delay_after=s.pin_delay_after,
        max_failures=s.pin_max_failures,
        # every test request comes from one address and the suite's rooms share it, so
        # tests are unlimited unless their settings ask for another limit than the default
        ip_limit_per_minute=(
            1_000_000
            if s.env == "test" and s.ip_limit_per_minute == Settings.ip_limit_per_minute
            else s.ip_limit_per_minute
        ),
    )


def phone_or_422(runtime: Runtime, raw: Any, field: str = "phone") -> str:
    try:
        return normalise_phone(raw, runtime.settings.default_region)
    except InvalidPhone as exc:
        raise ValidationFailed.field(field, str(exc)) from None


async def audit(
    runtime: Runtime,
    event: str,
    *,
    actor: str,
    subject: str | None,
    channel: str,
    address: str,
    outcome: str,
    session: AsyncSession | None = None,
) -> None:
    """Record one event: in `session` when given (successes), else in its own transaction."""
    row = insert(AuditEvent).values(
        id=new_id(),
        at=runtime.clock.now(),
        event=event,
        actor=actor[:80],
        subject=subject,
        channel=channel,
        client_address=address[:64],
        outcome=outcome,
    )
    if session is not None:
        await session.execute(row)
        return
    async with runtime.sessions() as own, own.begin():
        await own.execute(row)


# -- lookups ---------------------------------------------------------------------------------
async def get_customer(session: AsyncSession, customer_id: str) -> Customer:
    found = await session.get(Customer, customer_id) if customer_id else None
    if found is None:
        raise NotFound("no such customer")
    return found


async def get_agent(session: AsyncSession, agent_id: str) -> Agent:
    found = await session.get(Agent, agent_id) if agent_id else None
    if found is None:
        raise NotFound("no such agent")
    return found


async def find_customer_by_phone(session: AsyncSession, phone: str) -> Customer | None:
    found: Customer | None = await session.scalar(select(Customer).where(Customer.phone == phone))
    return found


async def token_version_ok(
    session: AsyncSession | AsyncConnection, principal: Principal, version: int
) -> bool:
    """One lookup: the token's version is current and, for an agent, the agent is active."""
    query = (
        select(Customer.token_version, literal(True)).where(Customer.id == principal.id)
        if principal.is_customer
        else select(Agent.token_version, Agent.active).where(Agent.id == principal.id)
    )
    row = (await session.execute(query)).first()
    return row is not None and row[0] == version and bool(row[1])


# The same lookup as plain SQL for core.drivers: it runs on every guarded request.
_TOKEN_VERSION = {
    True: "SELECT token_version, true FROM customers WHERE id = $1",
    False: "SELECT token_version, active FROM agents WHERE id = $1",
}


async def get_customer_on(driver: Any, customer_id: str) -> Any:
    """`get_customer` on an asyncpg connection (core.drivers), for a page that only reads:
    the profile's columns (no token version) as a row read by attribute."""
    found = await driver.fetchrow(
        "SELECT id, phone, name, locale, pin_hash, locked, created_at FROM customers WHERE id = $1",
        customer_id,
    )
    if found is None:
        raise NotFound("no such customer")
    return as_rows([found])[0]


async def token_version_ok_on(driver: Any, principal: Principal, version: int) -> bool:
    """`token_version_ok` on an asyncpg connection (core.drivers)."""
    row = await driver.fetchrow(_TOKEN_VERSION[principal.is_customer], principal.id)
    return row is not None and row[0] == version and bool(row[1])


# -- customers -------------------------------------------------------------------------------
async def create_customer(
    runtime: Runtime,
    session: AsyncSession,
    *,
    phone: str,
    name: str | None = None,
    locale: str = "zh",
    pin: str | None = None,
) -> Customer:
    e164 = phone_or_422(runtime, phone)
    if locale not in ("zh", "en"):
        raise ValidationFailed.field("locale", "must be zh or en")
    if name is not None and len(name) > 120:
        raise ValidationFailed.field("name", "at most 120 characters")
    check_plain_text("name", name)
    pin_hash = None
    if pin is not None:
        reason = pin_problem(pin, phone=e164)
        if reason:
            raise ValidationFailed.field("pin", reason)
        pin_hash = await hashing.hash_secret_async(runtime.settings.env, pin)
    if await find_customer_by_phone(session, e164) is not None:
        raise Conflict("a customer with this phone exists")
    customer = Customer(
        id=new_id(),
        phone=e164,
        name=name,
        locale=locale,
        pin_hash=pin_hash,
        token_version=1,
        locked=False,
        created_at=runtime.clock.now(),
    )
    session.add(customer)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a customer with this phone exists") from None
    return customer


def customer_token(runtime: Runtime, customer: Customer) -> tuple[str, int]:
    s = runtime.settings
    return tokens.issue(
        s.secret_key,
        Principal("customer", customer.id),
        version=customer.token_version,
        now=runtime.clock.now(),
        minutes=s.access_token_minutes,
    )


def agent_token(runtime: Runtime, agent: Agent) -> tuple[str, int]:
    s = runtime.settings
    return tokens.issue(
        s.secret_key,
        Principal("agent", agent.id, frozenset(agent.roles)),
        version=agent.token_version,
        now=runtime.clock.now(),
        minutes=s.agent_token_minutes,
    )


async def check_pin(
    runtime: Runtime,
    session: AsyncSession,
    raw_phone: Any,
    pin: Any,
    *,
    gate: Throttle,
    address: str,
    actor: str,
    channel: str,
    event: str,
    wrong: type[DomainError] = InvalidCredentials,
) -> Customer:
    """Throttled, enumeration-safe PIN check shared by login and caller verification;
    `wrong` is what a miss raises (a caller's wrong PIN is not the agent's failed login)."""
    now = runtime.clock.now()
    await gate.hit_address(address, now)
    phone = phone_or_422(runtime, raw_phone)
    if not isinstance(pin, str) or len(pin) > 64:
        raise ValidationFailed.field("pin", "must be a string of digits")
    try:
        number = await gate.attempt(phone, now)  # counted before hashing: see auth.throttle
        try:
            customer = await find_customer_by_phone(session, phone)
        except Exception:
            await gate.uncount(phone)  # no verdict (database unavailable): not a guess
            raise
        if customer is not None and customer.locked:  # the lock outlives a Redis flush
            raise AccountLocked(retry_after=3600)
    except Throttled as exc:
        await audit(
            runtime,
            event,
            actor=actor,
            subject=phone,
            channel=channel,
            address=address,
            outcome=exc.slug,
        )
        raise
    ok = await hashing.verify_secret_async(
        runtime.settings.env, customer.pin_hash if customer else None, pin
    )
    if not ok or customer is None:
        locked = await gate.failure(phone, now, number)
        if locked:  # own transaction: this request rolls back, the lock must stay
            async with runtime.sessions() as own, own.begin():
                await own.execute(
                    update(Customer).where(Customer.phone == phone).values(locked=True)
                )
        await audit(
            runtime,
            event,
            actor=actor,
            subject=phone,
            channel=channel,
            address=address,
            outcome="locked" if locked else "failure",
        )
        raise wrong("phone or PIN is not right")
    await gate.success(phone)
    await audit(
        runtime,
        event,
        actor=actor,
        subject=f"customer:{customer.id}",
        channel=channel,
        address=address,
        outcome="success",
        session=session,
    )
    return customer


async def login_customer(
    runtime: Runtime, session: AsyncSession, phone: Any, pin: Any, *, gate: Throttle, address: str
) -> tuple[Customer, str, int]:
    customer = await check_pin(
        runtime,
        session,
        phone,
        pin,
        gate=gate,
        address=address,
        actor="anonymous",
        channel="web",
        event="login",
    )
    token, expires = customer_token(runtime, customer)
    return customer, token, expires


async def change_pin(
    runtime: Runtime,
    session: AsyncSession,
    customer: Customer,
    pin: str,
    *,
    gate: Throttle,
    address: str,
    actor: str,
    channel: str,
) -> None:
    reason = pin_problem(pin, phone=customer.phone)
    if reason:
        raise ValidationFailed.field("pin", reason)
    customer.pin_hash = await hashing.hash_secret_async(runtime.settings.env, pin)
    customer.token_version += 1  # every token issued before is revoked
    customer.locked = False
    await session.flush()
    await gate.unlock(customer.phone)
    await audit(
        runtime,
        "pin_change",
        actor=actor,
        subject=f"customer:{customer.id}",
        channel=channel,
        address=address,
        outcome="success",
        session=session,
    )


# -- caller verification ---------------------------------------------------------------------
async def verify_caller(
    runtime: Runtime,
    session: AsyncSession,
    agent_id: str,
    phone: Any,
    pin: Any,
    *,
    gate: Throttle,
    address: str,
) -> CallerVerification:
    customer = await check_pin(
        runtime,
        session,
        phone,
        pin,
        gate=gate,
        address=address,
        actor=f"agent:{agent_id}",
        channel="phone",
        event="verification",
        wrong=CallerPinWrong,
    )
    now = runtime.clock.now()
    verification = CallerVerification(
        id=new_id(),
        customer_id=customer.id,
        agent_id=agent_id,
        created_at=now,
        expires_at=now + timedelta(minutes=runtime.settings.verification_minutes),
    )
    session.add(verification)
    await session.flush()
    return verification


async def check_verification(
    session: AsyncSession,
    verification_id: str,
    *,
    customer_id: str,
    agent_id: str,
    now: datetime,
) -> None:
    found = await session.get(CallerVerification, verification_id) if verification_id else None
    if (
        found is None
        or found.customer_id != customer_id
        or found.agent_id != agent_id
        or found.expires_at <= now
    ):
        raise VerificationRequired("verify the caller's PIN first (POST /v1/callers/verify)")


async def change_own_pin(
    runtime: Runtime,
    session: AsyncSession,
    customer_id: str,
    current: str,
    new: str,
    *,
    gate: Throttle,
    address: str,
) -> Customer:
    """A customer changes the PIN knowing the current one (throttled like a login)."""
    customer = await get_customer(session, customer_id)
    try:
        await check_pin(
            runtime,
            session,
            customer.phone,
            current,
            gate=gate,
            address=address,
            actor=f"customer:{customer.id}",
            channel="web",
            event="pin_check",
        )
    except InvalidCredentials as miss:  # counted and audited like a login; the token is fine
        raise CurrentSecretWrong.on("current_pin", miss) from None
    await change_pin(
        runtime,
        session,
        customer,
        new,
        gate=gate,
        address=address,
        actor=f"customer:{customer.id}",
        channel="web",
    )
    return customer


async def confirm_own_pin(
    runtime: Runtime,
    session: AsyncSession,
    customer_id: str,
    pin: str,
    *,
    gate: Throttle,
    address: str,
) -> Customer:
    """A signed-in customer confirms a charge with the PIN (the shop's phone-account payment):
    the same throttle, lock and audit as a login."""
    customer = await get_customer(session, customer_id)
    return await check_pin(
        runtime,
        session,
        customer.phone,
        pin,
        gate=gate,
        address=address,
        actor=f"customer:{customer.id}",
        channel="web",
        event="pin_check",
    )


async def set_customer_language(session: AsyncSession, customer_id: str, language: str) -> None:
    """The language SMS and pages use for this customer (zh or en)."""
    if language not in ("zh", "en"):
        raise ValidationFailed.field("lang", "zh or en")
    customer = await get_customer(session, customer_id)
    customer.locale = language
    await session.flush()
