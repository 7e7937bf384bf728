"""Line endings and the header line of an import: a carriage return alone (classic Mac OS)
is refused by name on line 1, as is a column name with a line break; both reached Python's
csv module or COPY and were a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.runtime import Runtime
from payments import CARRIER_FILE, BadImportFile, import_file
from tests.integration.finance.helpers import chunks

CARRIER = "phone,charge_id,amount,currency,charged_at,status,settlement_date"
PARTNER = "invoice_number,partner_code,shipment_id,amount,currency,period"


def _line() -> str:
    return (
        f"+8613800138000,{uuid.uuid4().hex},128.00,CNY,2031-12-01T10:15:00+08:00,charged,2031-12-02"
    )


@pytest.mark.parametrize(
    ("source", "header", "line"),
    [("carrier", CARRIER, _line()), ("partner", PARTNER, "INV-1,sf,abc123,15.00,CNY,2031-05")],
)
async def test_a_file_ending_its_lines_with_cr_alone_is_422_on_line_1(
    client: Any, finance: Any, source: str, header: str, line: str
) -> None:
    h = {**finance.headers, "Content-Type": "text/csv"}
    body = f"{header}\r{line}\r".encode()
    r = await client.post(f"/v1/finance/imports/{source}", content=body, headers=h)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["type"].endswith("/bad-import-file")
    assert problem["detail"].startswith("line 1: "), problem
    assert "LF or CRLF" in problem["detail"], problem


async def _refused(runtime: Runtime, text: str, size: int = 64) -> str:
    with pytest.raises(BadImportFile) as bad:
        await import_file(
            runtime.sessions,
            CARRIER_FILE,
            chunks(text, size),
            name="f.csv",
            actor="agent:test",
            tz="Asia/Shanghai",
            now=runtime.clock.now(),
        )
    return bad.value.detail


@pytest.mark.parametrize("size", [3, 1 << 20])
async def test_a_cr_alone_after_a_lf_header_is_named_by_its_line(
    own_runtime: Runtime, size: int
) -> None:
    """COPY reads the header's line ending and holds the file to it (it would have taken a
    CR alone on line 2 as the file's ending and imported lines we number otherwise)."""
    detail = await _refused(own_runtime, f"{CARRIER}\n{_line()}\n{_line()}\r{_line()}\r", size)
    assert detail.startswith("line 3: "), detail
    assert "carriage return" in detail, detail
    detail = await _refused(own_runtime, f"{CARRIER}\n{_line()}\r{_line()}\r", size)
    assert detail.startswith("line 2: "), detail


@pytest.mark.parametrize(
    "header",
    [
        CARRIER.replace("charge_id", '"charge\nid"'),
        CARRIER.replace("charge_id", '"charge\r\nid"'),
        CARRIER.replace("charge_id", '"charge\rid"'),
    ],
)
async def test_a_column_name_with_a_line_break_is_named_as_such(
    own_runtime: Runtime, header: str
) -> None:
    detail = await _refused(own_runtime, f"{header}\n{_line()}\n")
    assert detail == "line 1: header: a column name holds a line break", detail


async def test_crlf_still_imports(own_runtime: Runtime) -> None:
    imp = await import_file(
        own_runtime.sessions,
        CARRIER_FILE,
        chunks(f"{CARRIER}\r\n{_line()}\r\n{_line()}\r\n", 5),
        name="f.csv",
        actor="agent:test",
        tz="Asia/Shanghai",
        now=own_runtime.clock.now(),
    )
    assert imp.rows_read == 2 and imp.status == "done"
