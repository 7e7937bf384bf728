"""A re-imported line counts as changed when its facts changed, compared as stored (migration
0016): the same amount written another way is the same line; a new amount is a change."""

from __future__ import annotations

import uuid

from core.runtime import Runtime
from payments import CARRIER_FILE, import_file
from payments.recon_models import ReconImport
from tests.integration.finance.helpers import chunks

HEADER = "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"


async def _import(rt: Runtime, charge: str, amount: str, at: str) -> ReconImport:
    line = f"+8613800138000,{charge},{amount},CNY,{at},charged,2031-06-02\n"
    return await import_file(
        rt.sessions,
        CARRIER_FILE,
        chunks(HEADER + line),
        name="settlement.csv",
        actor="agent:test",
        tz="Asia/Shanghai",
        now=rt.clock.now(),
    )


async def test_a_line_changes_when_its_facts_do(own_runtime: Runtime) -> None:
    charge = uuid.uuid4().hex
    first = await _import(own_runtime, charge, "12.00", "2031-06-01T10:00:00+08:00")
    assert (first.rows_read, first.rows_new, first.rows_changed) == (1, 1, 0)
    same = await _import(own_runtime, charge, "12.0", "2031-06-01T02:00:00Z")
    assert (same.rows_read, same.rows_new, same.rows_changed) == (1, 0, 0)
    corrected = await _import(own_runtime, charge, "12.30", "2031-06-01T02:00:00Z")
    assert (corrected.rows_read, corrected.rows_new, corrected.rows_changed) == (1, 0, 1)
