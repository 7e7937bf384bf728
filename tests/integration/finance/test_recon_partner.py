"""Partner delivery invoices against partner_payables: one invoice over many shipments, a
shipment billed over two lines (many-to-one), one billed twice, one not billed, one billed
that we never owed; the period is a month in the business time zone."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

import fulfillment
from core.runtime import Runtime
from payments import import_file, recon
from payments.recon_models import ReconItem
from tests.integration.finance.helpers import add_partner, add_payable, chunks, local

HEADER = "invoice_number,partner_code,shipment_id,amount,currency,period\n"


async def test_partner_invoice_categories(own_runtime: Runtime) -> None:
    rt = own_runtime
    async with rt.sessions() as s, s.begin():
        partner = await add_partner(s)
        ok = await add_payable(s, partner, 1500, local("2031-05-03"))
        short = await add_payable(s, partner, 1500, local("2031-05-04"))
        split = await add_payable(s, partner, 3000, local("2031-05-05"))
        twice = await add_payable(s, partner, 1500, local("2031-05-06"))
        unbilled = await add_payable(s, partner, 1500, local("2031-05-07"))
    inv, code, stranger = f"INV-{uuid.uuid4().hex[:6]}", partner.code, uuid.uuid4().hex
    text = (
        HEADER
        + "".join(
            f"{inv},{code},{sid},{amount},CNY,2031-05\n"
            for sid, amount in [
                (ok, "15.00"),
                (short, "12.00"),
                (split, "10.00"),
                (split, "20.00"),
                (twice, "15.00"),
                (stranger, "15.00"),
            ]
        )
        + f"{inv}-2,{code},{twice},15.00,CNY,2031-05\n"
    )
    imp = await import_file(
        rt.sessions,
        fulfillment.PARTNER_FILE,
        chunks(text),
        name="invoice.csv",
        actor="t",
        tz="Asia/Shanghai",
        now=rt.clock.now(),
    )
    assert (imp.rows_read, imp.rows_new) == (7, 7)
    run = await recon.reconcile(
        rt.sessions,
        fulfillment.RECON_PARTNER,
        start=local("2031-05-01", "00:00"),
        end=local("2031-06-01", "00:00"),
        window=timedelta(hours=24),
        actor="t",
        now=local("2031-07-01"),
    )
    async with rt.sessions() as s:
        items = {
            i.match_key: i.category
            for i in await s.scalars(select(ReconItem).where(ReconItem.run_id == run.id))
        }
    assert items == {
        short: "amount_mismatch",
        twice: "duplicate",
        unbilled: "missing_at_counterparty",
        stranger: "missing_in_books",
    }
    assert recon.summary_of(run)["matched"]["count"] == 2  # ok, and split over two lines
