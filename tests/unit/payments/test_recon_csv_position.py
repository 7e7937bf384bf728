"""FilePosition names a NUL's line and column as a spreadsheet shows the file, wherever the
chunks cut it: quoted commas and line breaks stay in their field, a doubled quote is a quote."""

from __future__ import annotations

import pytest

from payments import BadImportFile
from payments.recon_csv import FilePosition

NAMES = ["a", "b", "c"]


@pytest.mark.parametrize(
    ("body", "line", "column"),
    [
        (b"1,2,\x003\n", 2, "c"),
        (b"1,2,3\r\n4,\x00,6\n", 3, "b"),
        (b'"x,\ny",2,3\n4,5,"\x00"\n', 3, "c"),
        (b'"a""b,c",\x00,3\n', 2, "b"),
        (b'"",,3\n"""",2,3\n,"\n,\n",\x00\n', 4, "c"),
        (b"1,2,3,4\x00\n", 2, None),
    ],
)
def test_a_nul_is_named_by_its_line_and_column(body: bytes, line: int, column: str | None) -> None:
    for size in range(1, len(body) + 1):
        position = FilePosition(NAMES)
        with pytest.raises(BadImportFile) as bad:
            for i in range(0, len(body), size):
                position.feed(body[i : i + size])
        where = f"line {line}: {column}: " if column else f"line {line}: "
        assert bad.value.detail.startswith(where), (size, bad.value.detail)
