"""A file PostgreSQL's COPY refuses is named in the file's own terms: the line as a spreadsheet
numbers it (the header is line 1), the column from the header, never our staging table or the
COPY statement. A NUL byte (PostgreSQL refuses it in text) is found while the file streams."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.runtime import Runtime
from fulfillment.recon_partner import PARTNER_FILE
from payments import CARRIER_FILE, BadImportFile, FileFormat, import_file

HEADER = "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"
AT = "2031-05-10T10:05:00+08:00"


def _line(charge: str = "", amount: str = "10.00") -> str:
    return f"+8613800138000,{charge or uuid.uuid4().hex},{amount},CNY,{AT},charged,2031-05-11\n"


async def _refused(
    runtime: Runtime, text: str | bytes, *, fmt: FileFormat = CARRIER_FILE, size: int = 64
) -> BadImportFile:
    data = text.encode() if isinstance(text, str) else text

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    with pytest.raises(BadImportFile) as bad:
        await import_file(
            runtime.sessions,
            fmt,
            pieces(),
            name="f.csv",
            actor="agent:test",
            tz="Asia/Shanghai",
            now=runtime.clock.now(),
        )
    detail = bad.value.detail
    assert "recon_raw" not in detail and "COPY" not in detail, detail
    return bad.value


def _field(bad: BadImportFile) -> Any:
    assert bad.errors, bad.detail
    return bad.errors[0]["field"]


async def test_a_nul_in_a_charge_id_on_line_2_over_http(client: Any, finance: Any) -> None:
    body = HEADER + _line("ab\x00cd")
    h = {**finance.headers, "Content-Type": "text/csv"}
    r = await client.post("/v1/finance/imports/carrier", content=body.encode(), headers=h)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("/bad-import-file")
    assert problem["detail"].startswith("line 2: charge_id: "), problem
    assert "NUL" in problem["detail"], problem
    assert problem["errors"][0]["field"] == "charge_id"


@pytest.mark.parametrize("size", [1, 7, 64, 1 << 20])
async def test_a_nul_is_named_by_line_and_column_wherever_the_chunks_cut(
    own_runtime: Runtime, size: int
) -> None:
    text = HEADER + _line() + _line() + _line().replace("CNY", "C\x00Y") + _line()
    bad = await _refused(own_runtime, text, size=size)
    assert bad.detail.startswith("line 4: currency: "), bad.detail
    assert _field(bad) == "currency"


async def test_a_quoted_field_with_a_comma_and_a_line_break_counts_as_one_line(
    own_runtime: Runtime,
) -> None:
    """As a spreadsheet shows it: a quoted line break stays inside its line, a quoted comma
    inside its column, and a doubled quote is a quote."""
    odd = '+8613800138000,"a,""b""\nc",10.00,CNY,' + AT + ",charged,2031-05-11\n"
    text = HEADER + odd + _line() + '+8613800138000,"x,y",1.00,CNY,' + AT + ",cha\x00,2031-05-11\n"
    bad = await _refused(own_runtime, text, size=5)
    assert bad.detail.startswith("line 4: status: "), bad.detail


async def test_a_nul_in_a_partner_invoice(own_runtime: Runtime) -> None:
    text = (
        "invoice_number,partner_code,shipment_id,amount,currency,period\n"
        "INV-1,sf,abc123,15.00,CNY,2031-05\n"
        "INV-1,sf,abc124,15.00,CNY,2031-05\x00\n"
    )
    bad = await _refused(own_runtime, text, fmt=PARTNER_FILE)
    assert bad.detail.startswith("line 3: period: "), bad.detail
    assert _field(bad) == "period"


@pytest.mark.parametrize(
    ("text", "starts", "field"),
    [
        (HEADER + _line() + _line() + "+8613800138000,x,1.00\n", "line 4: ", "currency"),
        (HEADER + _line() + _line().replace("\n", ",extra\n"), "line 3: ", None),
        (HEADER + _line() + '+8613800138000,"open,1.00,CNY\n', "line 3: ", None),
        (HEADER.encode() + _line().encode() + b"+86\xff\xfe,x,1.00,CNY,a,b,c\n", "line 3: ", None),
    ],
)
async def test_copy_errors_speak_of_the_file(
    own_runtime: Runtime, text: str | bytes, starts: str, field: str | None
) -> None:
    bad = await _refused(own_runtime, text)
    assert bad.detail.startswith(starts), bad.detail
    if field is not None:
        assert _field(bad) == field


async def test_a_nul_in_the_header_is_line_1(own_runtime: Runtime) -> None:
    bad = await _refused(own_runtime, HEADER.replace("amount", "amo\x00unt") + _line())
    assert bad.detail.startswith("line 1: header: "), bad.detail
