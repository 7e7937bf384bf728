"""Every amount has a documented maximum (core.money.MAX_AMOUNT, MAX_BALANCE) and gets 422
past it instead of overflowing a column; CSV exports never hand a spreadsheet a formula and
say their charset once; queue codes are slugs."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from core.money import MAX_AMOUNT, MAX_BALANCE
from core.runtime import Runtime
from core.text import spreadsheet_cell
from payments import ledger
from payments.domain import Posting
from payments.models import PhoneAccount
from tests.auth_fixtures import fixture_sessions
from ticketing.reports import report_csv

PROBLEM = "application/problem+json"


def _field_422(r: Any) -> str:
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return str(r.json()["errors"][0]["field"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 2**70, "reference": "r"}, "amount"),
        ({"amount": MAX_AMOUNT + 1, "reference": "r"}, "amount"),
        ({"amount": -1, "reference": "r"}, "amount"),
        ({"amount": 1, "reference": "r", "credit_limit": 2**63}, "credit_limit"),
        ({"amount": 1, "reference": "r", "credit_limit": MAX_AMOUNT + 1}, "credit_limit"),
    ],
)
async def test_top_up_amounts_past_the_maximum_are_422(
    client: Any, admin: Any, customer: Any, body: dict[str, Any], field: str
) -> None:
    path = f"/v1/admin/phone-accounts/{customer.id}/top-ups"
    assert _field_422(await client.post(path, json=body, headers=admin.headers)) == field


async def test_a_balance_is_never_pushed_past_its_maximum(
    client: Any, admin: Any, customer: Any, runtime: Runtime
) -> None:
    path = f"/v1/admin/phone-accounts/{customer.id}/top-ups"
    r = await client.post(
        path, json={"amount": MAX_AMOUNT, "reference": uuid.uuid4().hex}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["balance"]["amount"] == MAX_AMOUNT
    async with fixture_sessions(runtime)() as s, s.begin():
        await s.execute(
            update(PhoneAccount)
            .where(PhoneAccount.customer_id == customer.id)
            .values(balance=MAX_BALANCE - 10)
        )
    r = await client.post(
        path, json={"amount": 11, "reference": uuid.uuid4().hex}, headers=admin.headers
    )
    assert _field_422(r) == "amount"
    r = await client.post(
        path, json={"amount": 10, "reference": uuid.uuid4().hex}, headers=admin.headers
    )
    assert r.status_code == 200 and r.json()["balance"]["amount"] == MAX_BALANCE
    async with fixture_sessions(runtime)() as s:
        balance = await s.scalar(
            select(PhoneAccount.balance).where(PhoneAccount.customer_id == customer.id)
        )
    assert balance == MAX_BALANCE


async def test_refund_and_partner_amounts_past_the_maximum_are_422(client: Any, admin: Any) -> None:
    r = await client.post(
        "/v1/orders/any/refunds",
        json={"reason": "r", "amount": 2**64},
        headers={**admin.headers, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert _field_422(r) == "amount"
    r = await client.post(
        "/v1/partners",
        json={
            "code": "p" + uuid.uuid4().hex[:6],
            "name": "n",
            "kind": "courier",
            "cost_minor": MAX_AMOUNT + 1,
        },
        headers=admin.headers,
    )
    assert _field_422(r) == "cost_minor"


async def test_an_order_total_past_the_maximum_is_422(
    client: Any, admin: Any, customer: Any, runtime: Runtime
) -> None:
    offer = {
        "kind": "event",
        "title": "包场 Private show",
        "venue": "上海",
        "starts_at": (runtime.clock.now() + timedelta(days=9)).isoformat(),
        "price": {"amount": 100_000_000, "currency": runtime.settings.currency},
        "capacity": 500,
    }
    r = await client.post("/v1/offers", json=offer, headers=admin.headers)
    assert r.status_code == 201, r.text
    item = {"offer_id": r.json()["id"], "quantity": MAX_AMOUNT // 100_000_000 + 1}
    r = await client.post("/v1/orders", json={"items": [item]}, headers=customer.headers)
    assert _field_422(r) == "items"
    again = await client.get(f"/v1/offers/{item['offer_id']}")
    assert again.json()["available"] == 500  # nothing held


# -- CSV ---------------------------------------------------------------------------------------
FORMULAS = ["=SUM(1+1)*cmd|'calc'!A0", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"]


def test_every_formula_start_is_neutralised() -> None:
    for text in FORMULAS:
        assert spreadsheet_cell(text) == "'" + text
    assert spreadsheet_cell("ordinary") == "ordinary" and spreadsheet_cell(-12) == -12


def test_ticket_report_csv_neutralises_its_cells() -> None:
    clock = {"first_response": {"attainment": 1.0}}
    report = {
        "tickets": 1,
        "volume": {"by_category": {FORMULAS[0]: 1}, "by_channel": {}},
        "sla": {"overall": {}, "by_queue": {FORMULAS[0]: clock}, "by_agent": {"@x": clock}},
        "first_response_seconds": {},
        "resolution_seconds": {},
        "reopen_rate": None,
        "satisfaction": {"avg": None, "by_agent": {}},
    }
    cells = [c for row in csv.reader(io.StringIO(report_csv(report))) for c in row]
    assert FORMULAS[0] not in cells and "'" + FORMULAS[0] in cells and "'@x" in cells


async def test_queue_codes_are_slugs(client: Any, supervisor: Any) -> None:
    for code in (FORMULAS[0], "Billing", "a b", "x" * 41):
        r = await client.put(
            f"/v1/ticket-queues/{code}",
            json={"name": "n", "calendar": "china-office"},
            headers=supervisor.headers,
        )
        assert _field_422(r) == "code", code


async def test_csv_exports_say_charset_once(client: Any, finance: Any, supervisor: Any) -> None:
    r = await client.get("/v1/finance/ledger.csv", headers=finance.headers)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    r = await client.get("/v1/reports/tickets?format=csv", headers=supervisor.headers)
    assert r.headers["content-type"] == "text/csv; charset=utf-8"


async def test_ledger_csv_neutralises_a_memo(client: Any, finance: Any, runtime: Runtime) -> None:
    memo = f"refund: {FORMULAS[0]}"[8:]  # a refund reason typed by staff lands in the memo
    async with fixture_sessions(runtime)() as s, s.begin():
        await ledger.post(
            s,
            "test",
            [Posting("refunds", 100), Posting("gateway_clearing", -100)],
            currency="CNY",
            now=runtime.clock.now(),
            memo=memo,
        )
    r = await client.get("/v1/finance/ledger.csv", headers=finance.headers)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert any(row["memo"] == "'" + memo for row in rows), rows[-2:]
    assert all(not row["memo"].startswith(("=", "+", "-", "@")) for row in rows)
