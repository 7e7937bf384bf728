"""Demo data: agents of every role, customers with PINs and balances, a realistic catalog.

Each room seeds itself through `api/seeds.py`-style hooks listed here, in dependency order.
Idempotent: running it twice leaves one copy. Only ever called in demo mode.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from core.runtime import Runtime

# Each entry: a module with `async def seed_demo(runtime) -> list[str]` (lines to print).
SEEDERS = (
    "api.seeds.auth",
    "api.seeds.commerce",
    "api.seeds.payments",
    "api.seeds.fulfillment",
    "api.seeds.ticketing",
)


async def seed(runtime: Runtime) -> list[str]:
    """Seed every room and return the lines to print (credentials for the demo)."""
    lines: list[str] = []
    for name in SEEDERS:
        module = importlib.import_module(name)
        fn: Callable[[Runtime], Awaitable[list[str]]] = module.seed_demo
        lines.extend(await fn(runtime))
    return lines or ["demo data ready"]
