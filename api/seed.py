"""Demo data: agents of every role, customers with PINs and balances, a realistic catalog.

Each room seeds itself through `api/seeds.py`-style hooks listed here, in dependency order.
Idempotent: running it twice leaves one copy. Only in demo mode on the embedded SQLite file:
a configured database (PostgreSQL) is someone's real data, even when HOTLINE_ENV says demo.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from core.runtime import Runtime
from core.settings import Settings

# Each entry: a module with `async def seed_demo(runtime) -> list[str]` (lines to print).
SEEDERS = (
    "api.seeds.auth",
    "api.seeds.commerce",
    "api.seeds.payments",
    "api.seeds.fulfillment",
    "api.seeds.ticketing",
)


def seeding_refused(settings: Settings) -> str | None:
    """Why demo data must not be written with these settings, or None when it may."""
    if settings.env != "demo":
        return "HOTLINE_ENV is not demo"
    if not settings.database_url.startswith("sqlite"):
        return "HOTLINE_DATABASE_URL is not the embedded SQLite file (demo data goes nowhere else)"
    return None


async def seed(runtime: Runtime) -> list[str]:
    """Seed every room and return the lines to print (credentials for the demo)."""
    refused = seeding_refused(runtime.settings)
    if refused:
        raise RuntimeError(f"refusing to seed: {refused}")
    lines: list[str] = []
    for name in SEEDERS:
        module = importlib.import_module(name)
        fn: Callable[[Runtime], Awaitable[list[str]]] = module.seed_demo
        lines.extend(await fn(runtime))
    return lines or ["demo data ready"]
