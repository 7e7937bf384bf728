"""Admin commands of the payments room, registered on `hotline` by api.admin_cli."""

from __future__ import annotations

import sys
import uuid

import click

import payments
from api.cli_commerce import to_minor_units
from api.cli_group import main, run_with_runtime, run_with_services
from core.errors import DomainError
from core.runtime import Runtime


@main.command("top-up")
@click.option("--customer-id", required=True, help="customers.id of the subscriber")
@click.option("--amount", required=True, help="major units, e.g. 200.00")
@click.option("--reference", default=None, help="receipt number; repeating it is a no-op")
@click.option("--credit-limit", default=None, help="new credit limit in major units")
def top_up(customer_id: str, amount: str, reference: str | None, credit_limit: str | None) -> None:
    """Add money to a phone account (carrier billing)."""
    minor = to_minor_units(amount)
    limit = to_minor_units(credit_limit) if credit_limit is not None else None
    ref = reference or f"cli-{uuid.uuid4().hex}"

    async def go(runtime: Runtime) -> payments.PhoneAccount:
        async with runtime.sessions() as session, session.begin():
            return await payments.carrier.top_up(
                session,
                customer_id,
                minor,
                reference=ref,
                actor="system:cli",
                currency=runtime.settings.currency,
                now=runtime.clock.now(),
                credit_limit=limit,
            )

    try:
        acct = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"refused: {exc.detail}", err=True)
        sys.exit(1)
    major, cents = divmod(acct.balance, 100)
    click.echo(f"phone account of {customer_id}: balance {major}.{cents:02d} {acct.currency}")


@main.command("sweep-payments")
def sweep_payments() -> None:
    """Settle card attempts and refunds left `unknown` (the periodic job does this too)."""
    from api.controllers.payments import sweep_job

    n = run_with_services(sweep_job)
    click.echo(f"{n} payments or refunds settled")
