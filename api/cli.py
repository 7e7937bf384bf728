"""`hotline` command line: serve, migrate, seed the demo, run workers, admin chores."""

from __future__ import annotations

import os
import sys

import click

from api import admin_cli  # noqa: F401 - each room's admin commands join `main` on import
from api.cli_group import main, preflight, run_with_runtime, settings_or_exit


@main.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    from api.migrate import upgrade

    upgrade(settings_or_exit().database_url)
    click.echo("migrations applied")


@main.command("seed-demo")
def seed_demo() -> None:
    """Seed the demo catalog and accounts (demo mode only) and print the credentials."""
    settings = settings_or_exit()
    from api.seed import seed, seeding_refused

    refused = seeding_refused(settings)
    if refused:
        click.echo(f"refusing to seed: {refused}", err=True)
        sys.exit(2)

    lines = run_with_runtime(seed)
    for line in lines:
        click.echo(line)


@main.command()
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="server processes"
)
def serve(workers: int) -> None:
    """Serve the HTTP API (HOTLINE_HOST:HOTLINE_PORT)."""
    import uvicorn

    settings = preflight()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@main.command()
def run() -> None:
    """Migrate, seed the demo (demo mode only) and serve: what `make run` does."""
    settings = preflight(schema=False)  # migrated just below; `serve` then checks the schema
    from api.migrate import upgrade

    upgrade(settings.database_url)
    from api.seed import seed, seeding_refused

    refused = seeding_refused(settings)
    if refused is None:
        for line in run_with_runtime(seed):
            click.echo(line)
    elif settings.env == "demo":
        click.echo(f"not seeding the demo: {refused}", err=True)
    os.environ.setdefault("HOTLINE_ENV", settings.env)
    click.echo(f"serving on http://{settings.host}:{settings.port}  (OpenAPI: /schema)")
    serve.callback(workers=1)  # type: ignore[misc]
