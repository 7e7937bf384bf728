"""Admin commands of the auth room, registered on `hotline` by api.admin_cli."""

from __future__ import annotations

import sys

import click

import auth
from api.cli import main, run_with_runtime
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
