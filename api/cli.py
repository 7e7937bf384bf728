"""`hotline` command line: serve, migrate, seed the demo, run workers, admin chores."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def preflight() -> Settings:
    """What `serve`, `run` and `worker` check before they serve or spawn: the settings, the
    HOTLINE_DISPATCH_* knobs and that every outbox topic has a consumer. Failing later, in
    uvicorn's lifespan or a worker process, printed a traceback or restarted forever."""
    settings = _settings()
    from api.outbox_routes import UnroutedTopics, check_routes
    from api.worker import policy_from_env

    try:
        policy_from_env()
        check_routes()
    except (SettingsError, UnroutedTopics) as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    return settings


def run_with_runtime(fn: Callable[[Runtime], Awaitable[Any]]) -> Any:
    async def _go() -> Any:
        runtime = Runtime.build(_settings())
        try:
            return await fn(runtime)
        finally:
            await runtime.close()

    return asyncio.run(_go())


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
    settings = preflight()
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
