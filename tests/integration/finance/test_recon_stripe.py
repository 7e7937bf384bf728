"""Stripe's balance transactions and payouts against our card payments, refunds and disputes,
through the real SDK (auto-pagination) against a stand-in for the current endpoints: every
Stripe-side category, fees booked once, a payout whose total does not add up, re-import
idempotency, and the payout webhooks starting an import through the outbox."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select

from core.outbox import OutboxMessage
from core.runtime import Runtime
from payments import (
    STRIPE,
    TOPIC_PAYOUT_PAID,
    StripeGateway,
    domain,
    handle_event,
    import_stripe,
    ledger,
    payout_job,
    recon,
)
from payments.models import LedgerEntry, Payment, Refund
from payments.models import LedgerTransaction as Txn
from payments.recon_models import ReconItem
from tests.integration.finance.helpers import add_payment, add_refund, local, window_after
from tests.integration.finance.stripe_reports import StripeReports, serve_reports

DAY = "2031-04-10"


def card(s: Any, *, amount: int, at: Any, intent_id: str) -> Payment:
    return add_payment(s, method="card", amount=amount, at=at, intent_id=intent_id)


def _ts(hhmm: str) -> int:
    return int(local(DAY, hhmm).timestamp())


async def _day(rt: Runtime, st: StripeReports) -> dict[str, Any]:
    u = uuid.uuid4().hex[:10]
    ids: dict[str, Any] = {}
    async with rt.sessions() as s, s.begin():
        a = add_payment(
            s, method="card", amount=10000, at=local(DAY, "10:00"), intent_id=f"pi_A{u}"
        )
        b = add_payment(s, method="card", amount=5000, at=local(DAY, "11:00"), intent_id=f"pi_B{u}")
        c = add_payment(s, method="card", amount=8000, at=local(DAY, "12:00"), intent_id=f"pi_C{u}")
        await s.flush()
        refund = add_refund(s, a, 2500, local(DAY, "13:00"), gateway_ref=f"re_A{u}")
        await ledger.post(
            s,
            "dispute",
            domain.dispute_postings(5000),
            currency="CNY",
            now=local(DAY, "14:00"),
            memo="dispute",
            order_id=b.order_id,
            payment_id=b.id,
        )
        ids.update(a=a, b=b, c=c, refund=refund)

    def charge(p: Payment, amount: int, fee: int, hhmm: str) -> dict[str, Any]:
        return st.txn(
            id=f"txn_{uuid.uuid4().hex[:12]}",
            type="charge",
            reporting_category="charge",
            amount=amount,
            fee=fee,
            currency="cny",
            created=_ts(hhmm),
            available_on=_ts(hhmm),
            source={
                "id": f"ch_{p.id[:8]}",
                "object": "charge",
                "payment_intent": p.intent_id,
                "metadata": {"payment_id": p.id},
            },
        )

    ta = charge(a, 10000, 320, "10:01")
    tr = st.txn(
        id=f"txn_{uuid.uuid4().hex[:12]}",
        type="refund",
        reporting_category="refund",
        amount=-2500,
        currency="cny",
        created=_ts("13:01"),
        source={"id": f"re_A{u}", "object": "refund", "payment_intent": a.intent_id},
    )
    tb = charge(b, 5000, 150, "11:01")
    td = st.txn(
        id=f"txn_{uuid.uuid4().hex[:12]}",
        type="adjustment",
        reporting_category="dispute",
        amount=-5000,
        currency="cny",
        created=_ts("14:01"),
        source={"id": f"dp_{u}", "object": "dispute", "payment_intent": b.intent_id},
    )
    ids["tc"] = charge(c, 7000, 200, "12:01")  # Stripe took less than we booked
    stranger = Payment(id="x", intent_id=f"pi_X{u}")
    ids["tx"] = charge(stranger, 3000, 90, "15:00")  # a charge our books never saw
    ids["fee"] = st.txn(
        id=f"txn_{uuid.uuid4().hex[:12]}",
        type="stripe_fee",
        reporting_category="fee",
        amount=-500,
        currency="cny",
        created=_ts("16:00"),
        source=None,
    )
    st.payout(f"po_good{u}", (10000 - 320) - 2500, _ts("18:00"), [ta, tr])
    st.payout(f"po_bad{u}", 9999, _ts("18:00"), [tb, td])  # 9999 is not -150
    ids.update(good=f"po_good{u}", bad=f"po_bad{u}", u=u)
    return ids


async def test_stripe_day_payouts_and_fees(own_runtime: Runtime) -> None:
    rt = own_runtime
    with serve_reports(StripeReports()) as st:
        gw = StripeGateway("sk_test_recon", api_base=st.url)
        ids = await _day(rt, st)
        start, end = local(DAY, "00:00"), local(DAY, "00:00") + timedelta(days=1)
        now = window_after(DAY)
        imp = await import_stripe(rt.sessions, gw, start=start, end=end, actor="t", now=now)
        assert (imp.status, imp.rows_read, imp.rows_new) == ("done", 7, 7)
        assert sum("starting_after" in r for r in st.requests) == 0  # one page of 100
        for payout in (ids["good"], ids["bad"]):
            p = await import_stripe(rt.sessions, gw, payout_id=payout, actor="t", now=now)
            assert (p.rows_read, p.rows_new, p.rows_changed) == (2, 0, 2)  # learnt the payout
        again = await import_stripe(rt.sessions, gw, start=start, end=end, actor="t", now=now)
        assert (again.rows_read, again.rows_new, again.rows_changed) == (7, 0, 0)

        run = await recon.reconcile(
            rt.sessions,
            STRIPE,
            start=start,
            end=end,
            window=timedelta(hours=48),
            actor="t",
            now=now,
        )
    async with rt.sessions() as s:
        items = {
            i.match_key: i
            for i in await s.scalars(select(ReconItem).where(ReconItem.run_id == run.id))
        }
        a = await s.get_one(Payment, ids["a"].id)
        refund = await s.get_one(Refund, ids["refund"].id)
    assert (a.fee_amount, a.charge_id) == (320, f"ch_{a.id[:8]}")
    assert a.balance_transaction_id and a.balance_transaction_id.startswith("txn_")
    assert refund.balance_transaction_id and refund.balance_transaction_id.startswith("txn_")
    u = ids["u"]
    assert items[f"pi:pi_C{u}"].category == "amount_mismatch"
    assert items[f"pi:pi_X{u}"].category == "missing_in_books"
    assert items[f"adj:{ids['fee']['id']}"].category == "fee_or_adjustment_only"
    assert items[f"po:{ids['bad']}"].category == "amount_mismatch"
    assert items[f"po:{ids['bad']}"].our_amount == -150
    assert f"po:{ids['good']}" not in items and f"pi:pi_A{u}" not in items
    summary = recon.summary_of(run)
    assert summary["matched"]["count"] == 5  # A, its refund, B, B's dispute, the good payout


async def test_auto_pagination_reads_every_page(own_runtime: Runtime) -> None:
    rt = own_runtime
    day = "2031-04-20"
    with serve_reports(StripeReports()) as st:
        gw = StripeGateway("sk_test_recon", api_base=st.url)
        for i in range(7):
            st.txn(
                id=f"txn_page{uuid.uuid4().hex[:8]}{i}",
                type="adjustment",
                reporting_category="other_adjustment",
                amount=-10 - i,
                currency="cny",
                created=int(local(day, f"10:0{i}").timestamp()),
                source=None,
            )
        start = local(day, "00:00")
        imp = await import_stripe(
            rt.sessions,
            gw,
            start=start,
            end=start + timedelta(days=1),
            actor="t",
            now=rt.clock.now(),
            page_size=3,
        )
        pages = [r for r in st.requests if r.startswith("/v1/balance_transactions")]
    assert (imp.rows_read, imp.rows_new) == (7, 7)
    assert len(pages) == 3 and sum("starting_after" in r for r in pages) == 2


async def test_fees_are_booked_once(own_runtime: Runtime) -> None:
    rt = own_runtime
    with serve_reports(StripeReports()) as st:
        gw = StripeGateway("sk_test_recon", api_base=st.url)
        ids = await _day(rt, st)
        start, end = local(DAY, "00:00"), local(DAY, "00:00") + timedelta(days=1)
        for _ in range(2):
            await import_stripe(rt.sessions, gw, start=start, end=end, actor="t", now=end)
    async with rt.sessions() as s:
        booked = list(
            await s.scalars(
                select(LedgerEntry.amount)
                .join(
                    ledger.LedgerTransaction,
                    ledger.LedgerTransaction.id == LedgerEntry.transaction_id,
                )
                .where(
                    Txn.payment_id == ids["a"].id,
                    LedgerEntry.account == domain.GATEWAY_FEES,
                )
            )
        )
    assert booked == [320]


async def test_payout_webhook_queues_an_import_that_reconciles_it(own_runtime: Runtime) -> None:
    rt = own_runtime
    with serve_reports(StripeReports()) as st:
        gw = StripeGateway("sk_test_recon", api_base=st.url)
        ids = await _day(rt, st)
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payout.paid",
            "data": {"object": {"id": ids["bad"], "object": "payout"}},
        }
        deps: Any = None
        assert await handle_event(rt.sessions, deps, event, now=rt.clock.now()) == (
            "payout-import-queued"
        )
        assert await handle_event(rt.sessions, deps, event, now=rt.clock.now()) == "duplicate"
        async with rt.sessions() as s:
            queued = list(
                await s.scalars(
                    select(OutboxMessage.payload).where(OutboxMessage.topic == TOPIC_PAYOUT_PAID)
                )
            )
        assert {"payout_id": ids["bad"]} in queued
        async with rt.sessions() as s, s.begin():  # this test runs the job itself, below:
            await s.execute(  # no relay of another test may pick the message up
                delete(OutboxMessage).where(OutboxMessage.topic == TOPIC_PAYOUT_PAID)
            )
        run_id = await payout_job(
            rt.sessions, gw, ids["bad"], window=timedelta(hours=48), now=window_after(DAY)
        )
    async with rt.sessions() as s:
        items = {
            i.match_key: i.category
            for i in await s.scalars(select(ReconItem).where(ReconItem.run_id == run_id))
        }
    assert items == {f"po:{ids['bad']}": "amount_mismatch"}
