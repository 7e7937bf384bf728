"""Import every module that defines tables so Base.metadata is complete (Alembic, tests)."""

from __future__ import annotations

import importlib

MODEL_MODULES = (
    "core.sms",
    "core.idempotency",
    "core.outbox",
    "auth.models",
    "commerce.models",
    "payments.models",
    "fulfillment.models",
    "ticketing.models",
    "ticketing.calls",
)


def load_all_models() -> None:
    for module in MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


load_all_models()
