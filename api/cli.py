"""`hotline` command line: serve, migrate, seed the demo, run workers, admin chores."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from api.composition import Services, build_services
from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def run_with_services(fn: Callable[[Services], Awaitable[Any]]) -> Any:
    """Run one command against this process's composition (the same builder as the app's and
    the worker's, so a command uses the ports a request would)."""

    async def _go() -> Any:
        runtime = Runtime.build(_settings())
        try:
            return await fn(build_services(runtime))
        finally:
            await runtime.close()

    return asyncio.run(_go())


def run_with_runtime(fn: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """A command that needs only the infrastructure (sessions, clock, settings)."""
    return run_with_services(lambda services: fn(services.runtime))


@click.group()
def main() -> None:
    """Hotline: the mobile-commerce call center backend."""


@main.command()
def migrate() -> None:
    """Apply database migrations up to the newest."""
    from api.migrate import upgrade

    upgrade(_settings().database_url)
    click.echo("migrations applied")


@main.command("seed-demo")
def seed_demo() -> None:
    """Seed the demo catalog and accounts (demo mode only) and print the credentials."""
    settings = _settings()
    from api.seed import seed, seeding_refused

    refused = seeding_refused(settings)
    if refused:
        click.echo(f"refusing to seed: {refused}", err=True)
        sys.exit(2)

    lines = run_with_runtime(seed)
    for line in lines:
        click.echo(line)


@main.command()
@click.option("--workers", default=1, show_default=True, help="server processes")
def serve(workers: int) -> None:
    """Serve the HTTP API (HOTLINE_HOST:HOTLINE_PORT)."""
    import uvicorn

    settings = _settings()
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
    settings = _settings()
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


def register(command: click.Command) -> None:
    """Rooms' admin commands are added by api.admin_cli (imported below)."""
    main.add_command(command)


from api import admin_cli  # noqa: E402,F401 - registers admin commands on `main`
