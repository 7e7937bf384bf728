"""Admin commands of the auth room, registered on `hotline` by api.admin_cli."""

from __future__ import annotations

import sys

import click

import auth
from api.cli_group import main, run_with_runtime
from core.errors import DomainError
from core.principal import ROLES
from core.runtime import Runtime


@main.command("create-agent")
@click.option("--username", required=True)
@click.option("--display-name", default=None)
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), default=("agent",))
@click.password_option(help="12 characters or more (prompted when omitted)")
def create_agent(
    username: str, display_name: str | None, roles: tuple[str, ...], password: str
) -> None:
    """Create a call-center agent (roles: agent, supervisor, finance, admin)."""

    async def go(runtime: Runtime) -> str:
        async with runtime.sessions() as session, session.begin():
            agent = await auth.create_agent(
                runtime,
                session,
                username=username,
                password=password,
                display_name=display_name,
                roles=roles,
            )
            return agent.id

    try:
        agent_id = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"agent {username} created (id {agent_id}, roles {', '.join(sorted(roles))})")


@main.command("create-customer")
@click.option("--phone", required=True, help="E.164, or national in HOTLINE_DEFAULT_REGION")
@click.option("--name", default=None)
@click.option("--locale", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option(
    "--pin",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="6 digits, not weak (prompted when omitted)",
)
def create_customer(phone: str, name: str | None, locale: str, pin: str) -> None:
    """Create a customer who can log in with phone + PIN (operators and tests)."""

    async def go(runtime: Runtime) -> tuple[str, str]:
        async with runtime.sessions() as session, session.begin():
            customer = await auth.create_customer(
                runtime, session, phone=phone, name=name, locale=locale, pin=pin
            )
            return customer.id, customer.phone

    try:
        customer_id, e164 = run_with_runtime(go)
    except DomainError as exc:
        where = ", ".join(f"{e['field']}: {e['message']}" for e in exc.errors or [])
        click.echo(f"error: {where or exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"customer {e164} created (id {customer_id})")
