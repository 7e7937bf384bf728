"""A day-sized import refreshes recon_lines' statistics inside its transaction (recon_store
ANALYZE_AFTER); the carrier scenario gives the same lines and categories when it does."""

from __future__ import annotations

import pytest

from core.runtime import Runtime
from payments import recon_store
from tests.integration.finance import test_recon_carrier


async def test_every_category_when_the_import_analyzes(
    own_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recon_store, "ANALYZE_AFTER", 1)
    await test_recon_carrier.test_every_category_and_idempotent_reimport(own_runtime)
