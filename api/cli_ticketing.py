"""Admin commands of the ticketing room, registered on `hotline` by api.admin_cli."""

from __future__ import annotations

import json
import sys
from datetime import timedelta

import click

import ticketing
from api.cli_group import main, run_with_runtime
from core.errors import DomainError
from core.runtime import Runtime


@main.command("escalate-tickets")
def escalate_tickets() -> None:
    """Run one SLA escalation pass now (the periodic job runs every 2 seconds)."""
    run = run_with_runtime(ticketing.escalation_job)
    click.echo(f"{len(run.fired)} escalations fired")
    if run.failed:  # logged with their errors; their check_at stays due for the next pass
        click.echo(f"{len(run.failed)} tickets failed: {', '.join(run.failed)}", err=True)


@main.command("ticket-agent")
@click.argument("agent_id")
@click.option("--cap", type=int, default=10, show_default=True)
@click.option("--available/--unavailable", default=True)
@click.option("--queue", "queues", multiple=True, help="queue code (repeatable)")
def ticket_agent(agent_id: str, cap: int, available: bool, queues: tuple[str, ...]) -> None:
    """Set an agent's availability, ticket cap and queues; drains the backlog to them."""

    async def go(runtime: Runtime) -> int:
        async with runtime.sessions() as session, session.begin():
            await ticketing.set_agent(
                session, agent_id, available=available, cap=cap, queues=list(queues)
            )
            return await ticketing.drain_for_agent(session, agent_id, now=runtime.clock.now())

    try:
        n = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"refused: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"agent {agent_id}: cap={cap} available={available}; {n} tickets assigned")


@main.command("ticket-report")
@click.option("--days", type=int, default=30, show_default=True)
@click.option("--csv", "as_csv", is_flag=True)
def ticket_report(days: int, as_csv: bool) -> None:
    """Volumes, SLA attainment, handle times, reopen rate and satisfaction."""

    async def go(runtime: Runtime) -> dict[str, object]:
        now = runtime.clock.now()
        async with runtime.sessions() as session:
            return await ticketing.ticket_report(
                session, start=now - timedelta(days=days), end=now + timedelta(seconds=1), now=now
            )

    rep = run_with_runtime(go)
    click.echo(
        ticketing.report_csv(rep) if as_csv else json.dumps(rep, ensure_ascii=False, indent=2)
    )
