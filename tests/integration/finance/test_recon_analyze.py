"""A day-sized import refreshes recon_lines' statistics inside its transaction (recon_store
ANALYZE_AFTER): lowered to one line here, the import and the run that follows it give the
same lines and categories as without."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from core.runtime import Runtime
from payments import CARRIER, CARRIER_FILE, import_file, recon, recon_store
from tests.integration.finance.helpers import add_payment, chunks, local

DAY = "2031-05-14"


async def test_an_import_that_analyzes_reconciles_the_same(
    own_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recon_store, "ANALYZE_AFTER", 1)
    rt = own_runtime
    async with rt.sessions() as s, s.begin():
        ok = add_payment(s, method="carrier_billing", amount=1000, at=local(DAY, "09:00"))
        off = add_payment(s, method="carrier_billing", amount=2000, at=local(DAY, "09:10"))
    at = f"{DAY}T10:00:00+08:00"
    text = (
        "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"
        f"+8613800138000,{ok.id},10.00,CNY,{at},charged,2031-05-15\n"
        f"+8613800138000,{off.id},20.50,CNY,{at},charged,2031-05-15\n"
        f"+8613800138000,{uuid.uuid4().hex},5.00,CNY,{at},charged,2031-05-15\n"
    )
    imp = await import_file(
        rt.sessions,
        CARRIER_FILE,
        chunks(text),
        name="settlement.csv",
        actor="agent:test",
        tz="Asia/Shanghai",
        now=rt.clock.now(),
    )
    assert (imp.status, imp.rows_read, imp.rows_new, imp.rows_changed) == ("done", 3, 3, 0)
    run = await recon.reconcile(
        rt.sessions,
        CARRIER,
        start=local(DAY, "00:00"),
        end=local(DAY, "00:00") + timedelta(days=1),
        window=timedelta(hours=1),
        actor="agent:test",
        now=local(DAY) + timedelta(days=30),
    )
    counts = {k: v["count"] for k, v in recon.summary_of(run).items() if v["count"]}
    assert counts == {"matched": 1, "amount_mismatch": 1, "missing_in_books": 1}
