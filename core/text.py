"""What text from outside may hold, and how text leaves us in a spreadsheet.

PostgreSQL refuses the NUL character (0x00) in every text column, so a string carrying one
is refused at the edge with 422 naming its field (api/input_guard.py), whatever room it is
for.

Free text people write (addresses, names, ticket subjects and bodies, reasons, notes) holds
no other control character either (`check_plain_text`): a person never types one, and an ESC
sequence or a bell stored in an address goes on to the courier and shows up on the console as
"[31m". The rooms check it where they check the field's length, so the JSON API, the shop
and the console refuse the same text with 422 naming the field. Line breaks (LF, and the CR a
browser sends with them) and tabs are ordinary text where several lines are allowed.

Spreadsheets run a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or a
carriage return) as a formula, so every text cell of a CSV export goes through
`spreadsheet_cell` (OWASP's "CSV injection" advice: a leading apostrophe).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from core.errors import ValidationFailed

NUL = "\x00"
NUL_MESSAGE = "must not contain the NUL character (0x00)"

# A code people type and systems match (queue codes): lower-case letters, digits, - and _.
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
SLUG_RULE = (
    "1-40 characters: lower-case letters, digits, '-' and '_', starting with a letter or digit"
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

# C0 (0x00-0x1F), DEL and C1 (0x80-0x9F): Unicode's "Cc" characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A terminal escape (CSI `ESC [ ... m` or C1 CSI, or a two-character `ESC x`), dropped whole
# by `without_controls` so no "[31m" is left behind.
_ESCAPE_SEQUENCE = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?|\x1b[@-_]?")
CONTROL_MESSAGE = "must not contain control characters"
CONTROL_MESSAGE_LINES = "must not contain control characters (line breaks and tabs are fine)"


def check_plain_text(field: str, value: str | None, *, lines: bool = False) -> None:
    """422 naming `field` when free text holds a control character; with `lines`, line
    breaks and tabs are allowed (a textarea's text)."""
    if not value:
        return
    if lines:
        if _CONTROL_BUT_LINES.search(value):
            raise ValidationFailed.field(field, CONTROL_MESSAGE_LINES)
    elif _CONTROL.search(value):
        raise ValidationFailed.field(field, CONTROL_MESSAGE)


def without_controls(text: str) -> str:
    """The text with terminal escapes and control characters dropped, line breaks and tabs
    kept: for a channel whose sender has no form to correct (SMS)."""
    return _CONTROL_BUT_LINES.sub("", _ESCAPE_SEQUENCE.sub("", text))


def nul_path(value: Any) -> str | None:
    """Where the first NUL sits in a decoded JSON value (`items[0].title`, `body` for the
    top level), or None when there is none."""
    return text_path(value, lambda text: NUL in text)


def text_path(value: Any, bad: Callable[[str], bool], path: str = "") -> str | None:
    """Where the first string or member name for which `bad` holds sits in a decoded JSON
    value (`items[0].title`, `body` for the top level), or None when there is none."""
    if isinstance(value, str):
        return (path or "body") if bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if bad(str(key)):
                return here
            found = text_path(item, bad, here)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = text_path(item, bad, f"{path}[{i}]" if path else f"body[{i}]")
            if found is not None:
                return found
    return None


def spreadsheet_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet runs: text starting like a formula gets a leading `'`.
    Numbers we computed are left as numbers (a negative amount stays -12)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class SpreadsheetWriter:
    """`csv.writer` whose every text cell goes through `spreadsheet_cell`."""

    def __init__(self, out: Any) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([spreadsheet_cell(v) for v in row])


BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only when it starts with the byte-order mark


def spreadsheet_line(row: Iterable[Any]) -> str:
    """One CSV line (CRLF, as Excel writes), every text cell through `spreadsheet_cell`."""
    out = io.StringIO()
    SpreadsheetWriter(out).writerow(row)
    return out.getvalue()
