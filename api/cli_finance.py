"""`hotline finance ...`: import a counterparty's file, run a reconciliation (registered on
`hotline` by api.admin_cli).

The progress display is a one-line status on stderr (stage, lines so far, elapsed seconds)
rather than a percentage bar: Stripe does not say how many balance transactions a day holds
until the last page, so a bar would have to guess; and it needs no new dependency."""

from __future__ import annotations

import sys
import time
from datetime import date
from typing import NoReturn

import click

import payments
from api.cli_group import main, run_with_runtime, run_with_services
from api.composition import Services
from api.controllers.finance import FILES, SOURCES, ReconIn, run_reconciliation
from core.errors import DomainError
from core.runtime import Runtime


class StatusLine:
    """`\\r`-rewritten status on stderr; plain lines when stderr is not a terminal."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str) -> None:
        line = f"[{time.monotonic() - self.started:6.1f}s] {stage}"
        click.echo(f"\r{line:<60}" if self.tty else line, err=True, nl=not self.tty)

    def done(self) -> None:
        if self.tty:
            click.echo("", err=True)


@main.group("finance")
def finance() -> None:
    """Reconciliation against Stripe, the operator's carrier billing and delivery partners."""


def _refused(exc: DomainError) -> NoReturn:
    click.echo(f"refused: {exc.detail}", err=True)
    sys.exit(1)


@finance.command("reconcile")
@click.option("--source", required=True, type=click.Choice(sorted(SOURCES)))
@click.option("--date", "day", default=None, help="business day, YYYY-MM-DD (or --from/--to)")
@click.option("--from", "start", default=None, help="first business day, YYYY-MM-DD")
@click.option("--to", "end", default=None, help="last business day (inclusive), YYYY-MM-DD")
@click.option("--payout", default=None, help="a Stripe payout id (po_...), instead of dates")
@click.option("--window-hours", type=int, default=None, help="settlement window (default: env)")
def reconcile(
    source: str,
    day: str | None,
    start: str | None,
    end: str | None,
    payout: str | None,
    window_hours: int | None,
) -> None:
    """Import Stripe's side (source stripe) and match a day, a period or a payout."""
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise click.BadParameter("must be YYYY-MM-DD", param_hint="--date") from None
        start = end = day
    body = ReconIn(source=source, from_=start, to=end, payout=payout, window_hours=window_hours)
    status = StatusLine()

    async def go(services: Services) -> payments.ReconRun:
        return await run_reconciliation(
            services.runtime, services.gateway, body, "system:cli", progress=status
        )

    try:
        run = run_with_services(go)
    except DomainError as exc:
        status.done()
        _refused(exc)
    status.done()
    click.echo(f"reconciliation {run.id} ({run.source}): {run.status}")
    for category, entry in payments.recon.summary_of(run).items():
        amounts = ", ".join(f"{a['amount'] / 100:.2f} {a['currency']}" for a in entry["amounts"])
        click.echo(f"  {category:<24} {entry['count']:>9}  {amounts}")
    click.echo(f"differences: GET /v1/finance/reconciliations/{run.id}/items.csv")


@finance.command("import")
@click.option("--source", required=True, type=click.Choice(sorted(FILES)))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def import_file(source: str, path: str) -> None:
    """Import an operator settlement (carrier) or partner invoice (partner) CSV file."""
    status = StatusLine()
    status(f"importing {path}")

    async def go(runtime: Runtime) -> payments.ReconImport:
        return await payments.import_file(
            runtime.sessions,
            FILES[source],
            payments.file_chunks(path),
            name=path,
            actor="system:cli",
            tz=runtime.settings.timezone,
            now=runtime.clock.now(),
        )

    try:
        imp = run_with_runtime(go)
    except DomainError as exc:
        status.done()
        _refused(exc)
    status.done()
    click.echo(
        f"import {imp.id}: {imp.rows_read} lines read, {imp.rows_new} new, "
        f"{imp.rows_changed} changed (sha256 {imp.sha256})"
    )
