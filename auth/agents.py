"""Agents: creation by an admin, login by username and password, password change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth import hashing
from auth.domain import password_problem
from auth.errors import CurrentSecretWrong
from auth.models import Agent
from auth.service import agent_token, audit, get_agent
from auth.throttle import Throttle
from core.db import new_id
from core.errors import Conflict, InvalidCredentials, Throttled, ValidationFailed
from core.principal import ROLES
from core.runtime import Runtime
from core.text import check_plain_text


async def create_agent(
    runtime: Runtime,
    session: AsyncSession,
    *,
    username: str,
    password: str,
    display_name: str | None = None,
    roles: list[str] | tuple[str, ...] = ("agent",),
) -> Agent:
    # Printable ASCII: a username is typed at the sign-in form and shown in audit trails, so a
    # control character in it could neither be typed nor read.
    if not isinstance(username, str) or not (3 <= len(username) <= 64) or not username.isascii():
        raise ValidationFailed.field("username", "3 to 64 ASCII characters")
    if not username.isprintable() or username != username.strip():
        raise ValidationFailed.field("username", "printable, with no space at either end")
    reason = password_problem(password)
    if reason:
        raise ValidationFailed.field("password", reason)
    check_plain_text("display_name", display_name)
    if display_name is not None and not 1 <= len(display_name) <= 120:  # the column's width
        raise ValidationFailed.field("display_name", "1 to 120 characters")
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ValidationFailed.field("roles", f"each role must be one of {', '.join(ROLES)}")
    if await session.scalar(select(Agent.id).where(Agent.username == username)):
        raise Conflict("an agent with this username exists")
    agent = Agent(
        id=new_id(),
        username=username,
        display_name=display_name or username,
        roles=sorted(set(roles)),
        active=True,
        password_hash=await hashing.hash_secret_async(runtime.settings.env, password),
        token_version=1,
        created_at=runtime.clock.now(),
    )
    session.add(agent)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("an agent with this username exists") from None
    return agent


async def login_agent(
    runtime: Runtime,
    session: AsyncSession,
    username: Any,
    password: Any,
    *,
    gate: Throttle,
    address: str,
) -> tuple[Agent, str, int]:
    now = runtime.clock.now()
    await gate.hit_address(address, now)
    if not isinstance(username, str) or not isinstance(password, str) or len(username) > 64:
        raise ValidationFailed.field("username", "username and password must be strings")
    subject = f"agent:{username}"
    try:
        number = await gate.attempt(subject, now)
    except Throttled as exc:
        await audit(
            runtime,
            "agent_login",
            actor="anonymous",
            subject=subject,
            channel="web",
            address=address,
            outcome=exc.slug,
        )
        raise
    try:
        agent = await session.scalar(select(Agent).where(Agent.username == username))
    except Exception:
        await gate.uncount(subject)  # no verdict (database unavailable): not a guess
        raise
    stored = agent.password_hash if agent is not None and agent.active else None
    if (
        not await hashing.verify_secret_async(runtime.settings.env, stored, password[:256])
        or agent is None
    ):
        locked = await gate.failure(subject, now, number)
        await audit(
            runtime,
            "agent_login",
            actor="anonymous",
            subject=subject,
            channel="web",
            address=address,
            outcome="locked" if locked else "failure",
        )
        raise InvalidCredentials("username or password is not right")
    await gate.success(subject)
    await audit(
        runtime,
        "agent_login",
        actor=f"agent:{agent.id}",
        subject=subject,
        channel="web",
        address=address,
        outcome="success",
        session=session,
    )
    token, expires = agent_token(runtime, agent)
    return agent, token, expires


async def change_password(
    runtime: Runtime,
    session: AsyncSession,
    agent: Agent,
    password: str,
    *,
    gate: Throttle,
    address: str,
) -> None:
    reason = password_problem(password)
    if reason:
        raise ValidationFailed.field("password", reason)
    agent.password_hash = await hashing.hash_secret_async(runtime.settings.env, password)
    agent.token_version += 1
    await session.flush()
    await gate.unlock(f"agent:{agent.username}")
    await audit(
        runtime,
        "password_change",
        actor=f"agent:{agent.id}",
        subject=f"agent:{agent.id}",
        channel="web",
        address=address,
        outcome="success",
        session=session,
    )


async def change_own_password(
    runtime: Runtime,
    session: AsyncSession,
    agent_id: str,
    current: str,
    new: str,
    *,
    gate: Throttle,
    address: str,
) -> Agent:
    agent = await get_agent(session, agent_id)
    try:
        await login_agent(runtime, session, agent.username, current, gate=gate, address=address)
    except InvalidCredentials as miss:  # counted and audited like a login; the token is fine
        raise CurrentSecretWrong.on("current_password", miss) from None
    await change_password(runtime, session, agent, new, gate=gate, address=address)
    return agent
