"""Admin commands of the fulfillment room, registered on `hotline` by api.admin_cli:
`hotline worker`, `hotline dead-letters list|replay`, `hotline partners add|list`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import click
from sqlalchemy import select

from api.cli_group import main, preflight, run_with_runtime, run_with_services
from api.worker_supervisor import Supervisor
from core.errors import DomainError
from core.runtime import Runtime


@main.command("worker")
@click.option(
    "--processes",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="worker OS processes",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="Dramatiq threads per process  [default: HOTLINE_WORKER_THREADS, 4]",
)
def worker(processes: int, threads: int | None) -> None:
    """Run Dramatiq workers against Redis plus the periodic jobs (outbox relay, watchdog...).

    Each process runs `python -m api.worker`; a crashed one is restarted after 0.5 s, doubling
    per crash up to 30 s (back to 0.5 s once one ran a minute). SIGTERM/Ctrl-C stops them all
    gracefully.
    """
    # Checked here first: a bad HOTLINE_* would otherwise kill every process at start, and
    # each would be restarted forever.
    settings = preflight()
    env = dict(os.environ)
    if threads is not None:
        env["HOTLINE_WORKER_THREADS"] = str(threads)
    threads = threads or settings.worker_threads
    if not settings.redis_url:
        click.echo("HOTLINE_REDIS_URL is required for `hotline worker`", err=True)
        sys.exit(2)

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "api.worker"], env=env)

    supervisor = Supervisor(spawn, processes, echo=lambda line: click.echo(line, err=True))
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    click.echo(f"worker: {processes} process(es) x {threads} thread(s)")
    supervisor.run()


@main.group("dead-letters")
def dead_letters() -> None:
    """Shipments whose dispatch retries ran out."""


@dead_letters.command("list")
@click.option("--all", "include_replayed", is_flag=True, help="include replayed ones")
def dead_letters_list(include_replayed: bool) -> None:
    from fulfillment import list_dead_letters

    async def go(runtime: Runtime) -> list[Any]:
        async with runtime.sessions() as session:
            return await list_dead_letters(session, include_replayed=include_replayed)

    rows = run_with_runtime(go)
    if not rows:
        click.echo("no dead letters")
    for d in rows:
        state = f"replayed {d.replayed_at:%Y-%m-%d %H:%M}" if d.replayed_at else "open"
        what = f"shipment={d.shipment_id}" if d.shipment_id else f"order={d.order_id}"
        click.echo(
            f"{d.id}  {d.reason}  {what}  partner={d.partner_code or '-'}  "
            f"attempts={d.attempts}  {state}  last_error={d.last_error}"
        )


@dead_letters.command("replay")
@click.argument("dead_letter_id")
def dead_letters_replay(dead_letter_id: str) -> None:
    """Give the shipment a fresh set of attempts (same shipment id and body), or run a paid
    order that got no shipment through `order.paid` again."""
    from api.composition import Services
    from fulfillment import replay_dead_letter

    async def go(services: Services) -> str:
        runtime = services.runtime
        async with runtime.sessions() as session, session.begin():
            out = await replay_dead_letter(
                session, dead_letter_id, now=runtime.clock.now(), policy=services.dispatch_policy
            )
            if out.shipment_id:
                return f"shipment {out.shipment_id} queued for dispatch again"
            return f"order {out.order_id} queued for its shipments again"

    try:
        done = run_with_services(go)
    except DomainError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(done)


@main.group("partners")
def partners() -> None:
    """Delivery partners."""


@partners.command("add")
@click.option("--code", required=True)
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["http", "eticket"]), default="http")
@click.option("--endpoint-url", default="")
@click.option("--secret", required=True, help="shared HMAC secret (16+ characters)")
@click.option("--cost", "cost_minor", type=int, default=0, help="delivery cost, minor units")
def partners_add(
    code: str, name: str, kind: str, endpoint_url: str, secret: str, cost_minor: int
) -> None:
    from fulfillment import PartnerIn, register_partner

    async def go(runtime: Runtime) -> str:
        async with runtime.sessions() as session, session.begin():
            partner = await register_partner(
                session,
                PartnerIn(code, name, kind, endpoint_url, secret, None, cost_minor),
                currency=runtime.settings.currency,
                now=runtime.clock.now(),
            )
            return partner.id

    try:
        click.echo(f"partner {code} added ({run_with_runtime(go)})")
    except DomainError as exc:
        click.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)


@partners.command("list")
def partners_list() -> None:
    from fulfillment import Partner

    async def go(runtime: Runtime) -> list[Partner]:
        async with runtime.sessions() as session:
            return list(await session.scalars(select(Partner).order_by(Partner.code)))

    for p in run_with_runtime(go):
        click.echo(
            f"{p.code:12} {p.kind:8} {p.delivery_method:8} active={p.active} "
            f"cost={p.cost_minor} {p.currency} {p.endpoint_url}"
        )
