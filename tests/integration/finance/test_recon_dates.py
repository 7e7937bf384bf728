"""Dates and times of the carrier and partner files: in the years 2000-2100 like every date
from outside (core/dates.py), real days, and named by line and column when not. A year 1 or
9999 was imported (the next run then took a real charge for a duplicate), and a 30 February
was refused in PostgreSQL's words with no line."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.runtime import Runtime
from fulfillment.recon_partner import PARTNER_FILE
from payments import CARRIER_FILE, BadImportFile, FileFormat, import_file
from tests.integration.finance.helpers import chunks

CARRIER = "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"
PARTNER = "invoice_number,partner_code,shipment_id,amount,currency,period\n"
AT = "2031-05-10T10:05:00+08:00"


def _carrier(at: str = AT, settled: str = "2031-05-11") -> str:
    return f"+8613800138000,{uuid.uuid4().hex},10.00,CNY,{at},charged,{settled}\n"


def _partner(period: str = "2031-05") -> str:
    return f"INV-{uuid.uuid4().hex[:8]},sf,{uuid.uuid4().hex},15.00,CNY,{period}\n"


async def _import(runtime: Runtime, fmt: FileFormat, text: str) -> Any:
    return await import_file(
        runtime.sessions,
        fmt,
        chunks(text, 50),
        name="f.csv",
        actor="agent:test",
        tz="Asia/Shanghai",
        now=runtime.clock.now(),
    )


async def _refused(runtime: Runtime, fmt: FileFormat, text: str) -> BadImportFile:
    with pytest.raises(BadImportFile) as bad:
        await _import(runtime, fmt, text)
    return bad.value


async def test_a_year_1_over_http_is_422_naming_line_and_column(client: Any, finance: Any) -> None:
    body = CARRIER + _carrier() + _carrier(at="0001-01-01T00:00+08:00")
    h = {**finance.headers, "Content-Type": "text/csv"}
    r = await client.post("/v1/finance/imports/carrier", content=body.encode(), headers=h)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["detail"].startswith("line 3: charged_at: must be "), problem
    assert "2000 to 2100" in problem["detail"], problem
    assert problem["errors"][0]["field"] == "charged_at"


@pytest.mark.parametrize(
    ("fields", "column"),
    [
        ({"settled": "9999-12-31"}, "settlement_date"),
        ({"settled": "1999-12-31"}, "settlement_date"),
        ({"settled": "2031-02-30"}, "settlement_date"),
        ({"settled": "2031-04-31"}, "settlement_date"),
        ({"settled": "2031-1-1BC"}, "settlement_date"),  # PostgreSQL: 2031 BC
        ({"at": "2101-01-01T00:00+08:00"}, "charged_at"),
        ({"at": "2031-02-29T10:00:00+08:00"}, "charged_at"),  # 2031 is no leap year
        ({"at": "2031-01-01T10:00 BC+08:00"}, "charged_at"),
        ({"at": "2031-01-01T10:00+16:00"}, "charged_at"),  # beyond PostgreSQL's zones
        ({"at": "2031-01-01T10:00:00." + "1" * 130 + "+08:00"}, "charged_at"),
    ],
)
async def test_a_carrier_date_outside_or_impossible_is_named(
    own_runtime: Runtime, fields: dict[str, str], column: str
) -> None:
    text = CARRIER + _carrier() + _carrier(**fields) + _carrier()
    bad = await _refused(own_runtime, CARRIER_FILE, text)
    assert bad.detail.startswith(f"line 3: {column}: must be "), bad.detail
    assert bad.errors and bad.errors[0]["field"] == column


@pytest.mark.parametrize("period", ["1999-12", "2101-01", "0001-01-01", "2031-02-30", "2031-1-1BC"])
async def test_a_partner_period_outside_or_impossible_is_named(
    own_runtime: Runtime, period: str
) -> None:
    bad = await _refused(own_runtime, PARTNER_FILE, PARTNER + _partner() + _partner(period))
    assert bad.detail.startswith("line 3: period: must be "), bad.detail
    assert "2000 to 2100" in bad.detail


async def test_the_edges_of_the_years_and_a_leap_day_import(own_runtime: Runtime) -> None:
    carrier = (
        CARRIER
        + _carrier(at="2000-01-01T00:00:00+15:59", settled="2000-01-01")
        + _carrier(at="2100-12-31T23:59:59.999-15:59", settled="2100-12-31")
        + _carrier(at="2028-02-29 10:00Z", settled="2028-02-29")
    )
    assert (await _import(own_runtime, CARRIER_FILE, carrier)).rows_new == 3
    partner = PARTNER + _partner("2000-01") + _partner("2100-12-31") + _partner("2028-02-29")
    assert (await _import(own_runtime, PARTNER_FILE, partner)).rows_new == 3
