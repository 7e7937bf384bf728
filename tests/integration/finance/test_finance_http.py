"""Finance over HTTP: imports and runs, differences as Excel reads them (BOM, quoting,
formula-looking cells neutralised, major units), resolutions, the daily report and the
ledger export in business time, who may see what, and finance reading orders read-only."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import commerce
from core.money import Money
from core.runtime import Runtime
from payments import domain, ledger
from tests.auth_fixtures import fixture_sessions
from tests.integration.finance.helpers import add_payment, local

BOM = b"\xef\xbb\xbf"
HEADER = "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"


def excel_rows(r: Any) -> list[dict[str, str]]:
    """Read a CSV as Excel does: UTF-8 only because of the byte-order mark, then CSV."""
    assert r.content.startswith(BOM), r.content[:20]
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))


async def test_import_run_items_and_resolution(client: Any, finance: Any, runtime: Runtime) -> None:
    day = "2025-06-10"
    async with fixture_sessions(runtime)() as s, s.begin():
        p = add_payment(s, method="carrier_billing", amount=12345, at=local(day))
        q = add_payment(s, method="carrier_billing", amount=500, at=local(day, "11:00"))
    body = HEADER + f"+8613800138000,{p.id},123.00,CNY,{day}T10:01:00+08:00,charged,{day}\n"
    h = {**finance.headers, "Content-Type": "text/csv"}
    r = await client.post("/v1/finance/imports/carrier", content=body.encode(), headers=h)
    assert r.status_code == 201, r.text
    assert (r.json()["rows_new"], r.json()["status"]) == (1, "done")
    r = await client.post("/v1/finance/imports/carrier", content=body.encode(), headers=h)
    assert (r.json()["rows_new"], r.json()["rows_changed"]) == (0, 0)
    bad = await client.post("/v1/finance/imports/carrier", content=b"nope\n1\n", headers=h)
    assert bad.status_code == 422 and bad.json()["type"].endswith("/bad-import-file")

    run = await client.post(
        "/v1/finance/reconciliations",
        json={"source": "carrier", "from": day, "to": day, "window_hours": 0},
        headers=finance.headers,
    )
    assert run.status_code == 201, run.text
    summary = run.json()["summary"]
    assert summary["amount_mismatch"]["count"] == 1
    assert summary["missing_at_counterparty"]["count"] == 1
    assert summary["amount_mismatch"]["open"] == 1
    run_id = run.json()["id"]
    got = await client.get(f"/v1/finance/reconciliations/{run_id}", headers=finance.headers)
    assert got.status_code == 200 and got.json()["summary"] == summary

    r = await client.get(f"/v1/finance/reconciliations/{run_id}/items.csv", headers=finance.headers)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = {row["match_key"]: row for row in excel_rows(r)}
    assert set(rows) == {p.id, q.id}
    assert (rows[p.id]["our_amount"], rows[p.id]["their_amount"]) == ("123.45", "123.00")
    assert rows[p.id]["difference"] == "-0.45"  # a number, not a neutralised text
    assert rows[p.id]["order_number"] == p.order_number
    assert rows[p.id]["at"] == f"{day} 10:00:00"  # business time (Asia/Shanghai)

    note = '=HYPERLINK("http://evil.example","rounding")'
    item = rows[p.id]["item_id"]
    res = await client.post(
        f"/v1/finance/reconciliations/{run_id}/items/{item}/resolution",
        json={"note": note},
        headers=finance.headers,
    )
    assert res.status_code == 201, res.text
    assert res.json()["resolution"]["note"] == note
    r = await client.get(
        f"/v1/finance/reconciliations/{run_id}/items.csv?tz=utc", headers=finance.headers
    )
    row = {x["match_key"]: x for x in excel_rows(r)}[p.id]
    assert row["resolved"] == "yes" and row["resolution_note"] == "'" + note
    assert row["at"] == f"{day} 02:00:00"  # UTC on request
    again = await client.post(
        "/v1/finance/reconciliations",
        json={"source": "carrier", "from": day, "to": day, "window_hours": 0},
        headers=finance.headers,
    )
    assert again.json()["summary"]["amount_mismatch"]["open"] == 0  # resolved stays resolved


async def test_bad_runs_are_422_naming_the_field(client: Any, finance: Any) -> None:
    for body, field in [
        ({"source": "nope", "from": "2031-01-01", "to": "2031-01-01"}, "source"),
        ({"source": "carrier", "from": "2031-01-01"}, "to"),
        ({"source": "carrier", "from": "2031-01-02", "to": "2031-01-01"}, "to"),
        ({"source": "carrier", "from": "2031-01-01T00:00", "to": "2031-01-02"}, "from"),
        ({"source": "carrier", "payout": "po_1"}, "payout"),
    ]:
        r = await client.post("/v1/finance/reconciliations", json=body, headers=finance.headers)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["errors"][0]["field"] == field, (body, r.text)
    r = await client.get("/v1/finance/reconciliations/nope", headers=finance.headers)
    assert r.status_code == 404


async def test_only_finance_sees_reconciliations(
    client: Any, finance: Any, agent: Any, supervisor: Any, admin: Any, customer: Any
) -> None:
    paths = [
        ("GET", "/v1/finance/reconciliations/x"),
        ("GET", "/v1/finance/reconciliations/x/items.csv"),
        ("POST", "/v1/finance/reconciliations"),
        ("POST", "/v1/finance/reconciliations/x/items/y/resolution"),
        ("POST", "/v1/finance/imports/carrier"),
        ("GET", "/v1/finance/reports/daily?from=2031-01-01&to=2031-01-01"),
        ("GET", "/v1/finance/reports/daily.csv?from=2031-01-01&to=2031-01-01"),
    ]
    for who in (agent, supervisor, admin, customer):
        for method, path in paths:
            r = await client.request(method, path, json={}, headers=who.headers)
            assert r.status_code == 403, (method, path, r.text)
    for method, path in paths:
        r = await client.request(method, path, json={}, headers=finance.headers)
        assert r.status_code != 403, (method, path, r.text)


async def _order(runtime: Runtime) -> Any:
    now = runtime.clock.now()
    async with fixture_sessions(runtime)() as s, s.begin():
        offer = await commerce.create_offer(
            s,
            kind="event",
            title="演唱会",
            venue="上海",
            starts_at=now + timedelta(days=30),
            price=Money(9900, "CNY"),
            capacity=5,
            now=now,
        )
        return await commerce.place_order(
            s,
            customer_id=uuid.uuid4().hex,
            lines=[commerce.LineRequest(offer.id, 1)],
            delivery_method="e_ticket",
            delivery_address=None,
            actor="agent:test",
            channel="phone",
            settings=runtime.settings,
            now=now,
        )


async def test_finance_reads_orders_and_payments_but_changes_nothing(
    client: Any, finance: Any, runtime: Runtime
) -> None:
    order = await _order(runtime)
    h = finance.headers
    assert (await client.get(f"/v1/orders/{order.id}", headers=h)).status_code == 200
    listed = await client.get(f"/v1/orders?number={order.number}", headers=h)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 1
    assert (await client.get(f"/v1/orders/{order.id}/payments", headers=h)).status_code == 200
    pay = await client.post(
        f"/v1/orders/{order.id}/payments",
        json={"method": "carrier_billing"},
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert pay.status_code == 403, pay.text
    cancel = await client.post(
        f"/v1/orders/{order.id}/cancel",
        json={"reason": "no"},
        headers={**h, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert cancel.status_code == 403, cancel.text


async def test_daily_report_and_ledger_export(client: Any, finance: Any, runtime: Runtime) -> None:
    day = "2025-06-12"
    async with fixture_sessions(runtime)() as s, s.begin():
        p = add_payment(s, method="card", amount=20000, at=local(day), channel="sms")
        await s.flush()
        ids = {"order_id": p.order_id, "payment_id": p.id}
        for kind, postings, at in [
            ("capture", domain.capture_postings("card", 20000), "10:00"),
            ("gateway_fee", domain.fee_postings(600), "10:00"),
            ("refund", domain.refund_postings("card", 5000), "15:00"),
            ("dispute", domain.dispute_postings(1000), "23:30"),  # still the 12th in Shanghai
        ]:
            await ledger.post(
                s, kind, postings, currency="CNY", now=local(day, at), memo="-1+1", **ids
            )
    q = f"from={day}&to={day}"
    r = await client.get(f"/v1/finance/reports/daily?{q}", headers=finance.headers)
    assert r.status_code == 200, r.text
    rows = [x for x in r.json()["items"] if x["channel"] == "sms"]
    assert len(rows) == 1 and rows[0]["day"] == day and rows[0]["method"] == "card"
    assert {k: rows[0][k]["amount"] for k in ("takings", "fees", "refunds", "disputes", "net")} == {
        "takings": 20000,
        "fees": 600,
        "refunds": 5000,
        "disputes": 1000,
        "net": 13400,
    }
    r = await client.get(f"/v1/finance/reports/daily.csv?{q}", headers=finance.headers)
    sms = [x for x in excel_rows(r) if x["channel"] == "sms"]
    assert (sms[0]["takings"], sms[0]["net"], sms[0]["currency"]) == ("200.00", "134.00", "CNY")
    utc = await client.get(f"/v1/finance/reports/daily?{q}&tz=utc", headers=finance.headers)
    assert {x["day"] for x in utc.json()["items"] if x["channel"] == "sms"} == {day}

    r = await client.get(f"/v1/finance/ledger.csv?{q}", headers=finance.headers)
    lines = [x for x in excel_rows(r) if x["payment_id"] == p.id]
    assert len(lines) == 8
    capture = next(x for x in lines if x["kind"] == "capture" and x["debit"] != "0.00")
    assert capture["debit"] == "200.00" and capture["order_number"] == p.order_number
    assert capture["at"] == f"{day} 10:00:00" and capture["memo"] == "'-1+1"
    bad = await client.get("/v1/finance/ledger.csv?from=2031-13-01", headers=finance.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"


async def test_a_reversed_range_is_422_on_to_for_the_ledger_as_for_the_report(
    client: Any, finance: Any
) -> None:
    q = "from=2026-12-01&to=2026-11-01"
    for path in ("/v1/finance/ledger.csv", "/v1/finance/reports/daily"):
        r = await client.get(f"{path}?{q}", headers=finance.headers)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["errors"][0] == {"field": "to", "message": "must be after from"}
    # the ledger's ends stay optional: either alone is still an export
    for open_ended in ("from=2026-12-01", "to=2026-11-01"):
        r = await client.get(f"/v1/finance/ledger.csv?{open_ended}", headers=finance.headers)
        assert r.status_code == 200, (open_ended, r.text)
