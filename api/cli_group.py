"""The `hotline` command group and what its commands share: settings that stop the command with
a clear message, and the process's composition (api.composition) opened and closed around one
coroutine. The commands live in
api/cli.py (serve, migrate, seed) and each room's api/cli_<room>.py."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from api.composition import Services, build_services
from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def preflight(*, schema: bool = True) -> Settings:
    """What `serve`, `run` and `worker` check before they serve or spawn: the settings, that
    every outbox topic has a consumer, that the database answers and (unless `schema=False`:
    `run` migrates next) that it is migrated to this release. Failing later, in uvicorn's
    lifespan or a worker process, printed a traceback or restarted the process forever, and
    an unmigrated database served 500s while every periodic job logged a traceback a tick."""
    settings = settings_or_exit()
    from api.outbox_routes import UnroutedTopics, check_routes

    try:
        check_routes()
    except UnroutedTopics as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    from api.db_check import database_problem

    refusal, warning = asyncio.run(database_problem(settings.database_url, schema=schema))
    if refusal is not None:
        click.echo(f"refusing to start: {refusal}", err=True)
        sys.exit(2)
    if warning is not None:
        click.echo(f"warning: {warning}", err=True)
    return settings


def run_with_services(fn: Callable[[Services], Awaitable[Any]]) -> Any:
    """Run one command against this process's composition (the same builder as the app's and
    the worker's, so a command uses the ports a request would)."""

    settings = settings_or_exit()

    async def _go() -> Any:
        runtime = Runtime.build(settings)
        try:
            return await fn(build_services(runtime))
        finally:
            await runtime.close()

    try:
        return asyncio.run(_go())
    except DBAPIError as exc:
        # A command run before `migrate`, or against the wrong database, printed a page of
        # driver traceback; say what is wrong and what to do instead.
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        text = str(exc.orig).lower()
        if "no such table" in text or "does not exist" in text:
            click.echo(
                f"the database {where} has no Hotline tables yet: run `hotline migrate`"
                " (or `make run`) first",
                err=True,
            )
        else:
            click.echo(f"the database {where} failed: {str(exc.orig)[:300]}", err=True)
        sys.exit(2)


def run_with_runtime(fn: Callable[[Runtime], Awaitable[Any]]) -> Any:
    """A command that needs only the infrastructure (sessions, clock, settings)."""
    return run_with_services(lambda services: fn(services.runtime))


@click.group()
def main() -> None:
    """Hotline: the mobile-commerce call center backend."""
