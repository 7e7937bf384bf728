"""The `hotline` command group and what its commands share: settings that stop the command with
a clear message, and a runtime opened and closed around one coroutine. The commands live in
api/cli.py (serve, migrate, seed) and each room's api/cli_<room>.py."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from core.runtime import Runtime
from core.settings import Settings, SettingsError, load_settings


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)


def run_with_runtime(fn: Callable[[Runtime], Awaitable[Any]]) -> Any:
    async def _go() -> Any:
        runtime = Runtime.build(settings_or_exit())
        try:
            return await fn(runtime)
        finally:
            await runtime.close()

    return asyncio.run(_go())


@click.group()
def main() -> None:
    """Hotline: the mobile-commerce call center backend."""
