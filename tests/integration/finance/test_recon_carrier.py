"""Carrier billing against the operator's settlement file: a generated file holding every
category, idempotent re-import, a bad file that imports nothing, resolutions that survive a
re-run until the facts change."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.runtime import Runtime
from payments import CARRIER, CARRIER_FILE, BadImportFile, import_file, recon
from payments.recon_models import ReconImport, ReconItem, ReconLine
from tests.integration.finance.helpers import add_payment, add_refund, chunks, local

DAY = "2031-03-10"
HEADER = "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"


def _line(
    charge: str,
    amount: str,
    status: str = "charged",
    currency: str = "CNY",
    at: str = f"{DAY}T10:05:00+08:00",
    settled: str = "2031-03-11",
) -> str:
    return f"+8613800138000,{charge},{amount},{currency},{at},{status},{settled}\n"


async def _books(runtime: Runtime) -> dict[str, Any]:
    """Our side of the day: one carrier payment per category, and a refund."""
    ids: dict[str, Any] = {}
    async with runtime.sessions() as s, s.begin():
        for name, amount, at in [
            ("matched", 10000, local(DAY, "09:00")),
            ("amount", 10000, local(DAY, "09:10")),
            ("currency", 10000, local(DAY, "09:20")),
            ("status", 10000, local(DAY, "09:30")),
            ("duplicate", 5000, local(DAY, "09:40")),
            ("missing", 7000, local(DAY, "09:50")),
            ("split", 30000, local(DAY, "10:00")),
            ("late", 4200, local(DAY, "23:59")),  # the operator books it after midnight
            ("pending", 8800, local(DAY, "23:30")),
        ]:
            ids[name] = add_payment(s, method="carrier_billing", amount=amount, at=at)
        await s.flush()
        ids["refund"] = add_refund(s, ids["matched"], 2500, local(DAY, "12:00"))
    return ids


def _file(ids: dict[str, Any], *, amount_for_mismatch: str = "99.00") -> str:
    unknown = uuid.uuid4().hex
    return (
        HEADER
        + _line(ids["matched"].id, "100.00")
        + _line(ids["refund"].id, "25.00", status="refunded")
        + _line(ids["amount"].id, amount_for_mismatch)
        + _line(ids["currency"].id, "100.00", currency="USD")
        + _line(ids["status"].id, "100.00", status="failed")
        + _line(ids["duplicate"].id, "50.00")
        + _line(ids["duplicate"].id, "50.00")  # charged twice by the operator
        + _line(ids["split"].id, "100.00", settled="2031-03-11")
        + _line(ids["split"].id, "200.00", settled="2031-03-12")  # many-to-one
        + _line(ids["late"].id, "42.00", at="2031-03-11T00:01:00+08:00")
        + _line(unknown, "66.00")  # not in our books
    )


async def _import(runtime: Runtime, text: str) -> ReconImport:
    return await import_file(
        runtime.sessions,
        CARRIER_FILE,
        chunks(text),
        name="settlement.csv",
        actor="agent:test",
        tz="Asia/Shanghai",
        now=runtime.clock.now(),
    )


async def _run(runtime: Runtime, *, now_hhmm: str = "23:45") -> Any:
    return await recon.reconcile(
        runtime.sessions,
        CARRIER,
        start=local(DAY, "00:00"),
        end=local(DAY, "00:00") + timedelta(days=1),
        window=timedelta(hours=1),
        actor="agent:test",
        now=local(DAY, now_hhmm),
    )


async def _items(runtime: Runtime, run_id: str) -> dict[str, ReconItem]:
    async with runtime.sessions() as s:
        rows = await s.scalars(select(ReconItem).where(ReconItem.run_id == run_id))
        return {i.match_key: i for i in rows}


async def test_every_category_and_idempotent_reimport(own_runtime: Runtime) -> None:
    rt = own_runtime
    ids = await _books(rt)
    text = _file(ids)
    first = await _import(rt, "\ufeff" + text)  # Excel's byte-order mark is accepted
    assert (first.status, first.rows_read, first.rows_new, first.rows_changed) == (
        "done",
        11,
        11,
        0,
    )
    again = await _import(rt, text)
    assert (again.rows_read, again.rows_new, again.rows_changed) == (11, 0, 0)
    async with rt.sessions() as s:
        assert (
            await s.scalar(
                select(func.count())
                .select_from(ReconLine)
                .where(ReconLine.source == "carrier", ReconLine.match_key == ids["duplicate"].id)
            )
            == 2
        )

    run = await _run(rt)
    items = await _items(rt, run.id)
    got = {name: items[p.id].category for name, p in ids.items() if p.id in items}
    assert got == {
        "amount": "amount_mismatch",
        "currency": "currency_mismatch",
        "status": "status_mismatch",
        "duplicate": "duplicate",
        "missing": "missing_at_counterparty",
        "pending": "pending",
    }
    assert sorted(i.category for i in items.values() if i.our_count == 0) == ["missing_in_books"]
    summary = recon.summary_of(run)
    assert summary["matched"]["count"] == 4  # matched, its refund, the split, the late one
    assert summary["duplicate"]["amounts"] == [
        {"currency": "CNY", "amount": 10000, "difference": 5000}
    ]
    dup = items[ids["duplicate"].id]
    assert (dup.our_count, dup.their_count, dup.their_amount) == (1, 2, 10000)


async def test_a_bad_line_imports_nothing_and_names_line_and_column(own_runtime: Runtime) -> None:
    charge = uuid.uuid4().hex
    text = HEADER + _line(charge, "10.00") + _line(charge, "ten", settled="2031-03-12")
    with pytest.raises(BadImportFile) as bad:
        await _import(own_runtime, text)
    assert bad.value.detail.startswith("line 3: amount: must be")
    no_zone = HEADER + _line(charge, "10.00", at="2031-03-10T10:05:00")
    with pytest.raises(BadImportFile) as zoneless:
        await _import(own_runtime, no_zone)
    assert zoneless.value.detail.startswith("line 2: charged_at: must be an ISO 8601 time")
    with pytest.raises(BadImportFile) as impossible:  # a day the calendar lacks, by its line
        await _import(own_runtime, HEADER + _line(charge, "10.00", settled="2031-02-30"))
    assert impossible.value.detail.startswith("line 2: settlement_date: must be a date")
    for phone in ("+86abc12345", "+0861380013800", "+86 13800138000"):  # shaped, not E.164
        line = _line(charge, "10.00").replace("+8613800138000", phone)
        with pytest.raises(BadImportFile) as not_e164:
            await _import(own_runtime, HEADER + line)
        assert not_e164.value.detail.startswith("line 2: phone: must be an E.164 number")
    # An empty column is NULL after COPY: the checks in the typing statement refuse it too
    # (recon_files.checked_select), and the line is named as for any other bad value.
    empty = _line(uuid.uuid4().hex, "10.00").replace(",CNY,", ",,")
    with pytest.raises(BadImportFile) as no_currency:
        await _import(own_runtime, HEADER + _line(charge, "10.00") + empty)
    assert no_currency.value.detail.startswith("line 3: currency: must be")
    with pytest.raises(BadImportFile) as header:
        await _import(own_runtime, "phone,charge\n+8613800138000,x\n")
    assert "missing: charge_id, amount" in header.value.detail
    async with own_runtime.sessions() as s:
        assert (
            await s.scalar(select(ReconLine.line_id).where(ReconLine.match_key == charge)) is None
        )
        failed = await s.scalar(
            select(func.count()).select_from(ReconImport).where(ReconImport.status == "failed")
        )
    assert failed and failed >= 1


async def test_resolutions_survive_a_rerun_until_the_facts_change(own_runtime: Runtime) -> None:
    rt = own_runtime
    async with rt.sessions() as s, s.begin():
        p = add_payment(s, method="carrier_billing", amount=1234, at=local("2031-03-20"))
    day_file = HEADER + _line(p.id, "12.00", at="2031-03-20T11:00:00+08:00")

    async def run() -> ReconItem:
        r = await recon.reconcile(
            rt.sessions,
            CARRIER,
            start=local("2031-03-20", "00:00"),
            end=local("2031-03-21", "00:00"),
            window=timedelta(hours=1),
            actor="agent:test",
            now=local("2031-04-30"),
        )
        return (await _items(rt, r.id))[p.id]

    await _import(rt, day_file)
    first = await run()
    assert first.category == "amount_mismatch" and first.resolution_id is None
    async with rt.sessions() as s, s.begin():
        _, res = await recon.resolve(
            s,
            first.run_id,
            first.id,
            note="=operator rounding, credit note 77",
            actor="agent:finance",
            now=rt.clock.now(),
        )
    second = await run()
    assert second.run_id != first.run_id and second.resolution_id == res.id
    await _import(rt, HEADER + _line(p.id, "12.30", at="2031-03-20T11:00:00+08:00"))
    third = await run()  # the operator corrected the line: a new fact, open again
    assert third.category == "amount_mismatch" and third.resolution_id is None
