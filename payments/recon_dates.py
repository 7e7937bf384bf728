"""The date and time columns of counterparty files, in the years 2000-2100 like every date
from outside (core/dates.py): SQL over the raw text, as `recon_files.FileFormat` takes it.

Three layers, so the happy path stays cheap (README "Benchmark"):
- `quick`: the year as text (`in_years`, two byte comparisons: the columns are COLLATE "C"
  and the shape check has put the year first), so the casts see no year outside;
- `typed`: the cast value against a constant (`TYPED_AFTER`), for what a cast reads from
  letters no text check sees (PostgreSQL reads `2031-01-1BC` as a date of the year 2031 BC);
- the checks, run only when a line failed, name it: the pattern (years, months, days 01-31,
  PostgreSQL's zone range, a bounded length) and, guarded by it, whether the day exists.
  Together they accept what the casts accept (a 30 February, a zone of +16:00 or a fraction
  of 120 digits fails both), without a cast that could throw in the naming query itself.
"""

from __future__ import annotations

from core.dates import FIRST_YEAR, LAST_YEAR

assert (FIRST_YEAR, LAST_YEAR) == (2000, 2100), "_YEAR spells out 2000-2100"
_YEAR = r"(20\d\d|2100)"
_DAY = rf"{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_YEARS = f"in the years {FIRST_YEAR} to {LAST_YEAR}"
FIRST_DAY = f"'{FIRST_YEAR}-01-01'"
# Below every time whose own year is FIRST_YEAR, whatever its zone (at most 15:59 ahead).
TYPED_AFTER = f"'{FIRST_YEAR - 1}-12-31T00:00Z'"
MAX_TIME_LENGTH = 64  # PostgreSQL refuses a time of ~140 characters (a long fraction)


def day_exists(c: str) -> str:
    """SQL: the `YYYY-MM-DD` that `c` starts with is a real day (no 30 February). Only for a
    `c` that `_DAY` has matched, behind a CASE: these casts and make_date cannot fail then."""
    return (
        f"substr({c}, 9, 2)::int <= extract(day from make_date(substr({c}, 1, 4)::int,"
        f" substr({c}, 6, 2)::int, 1) + interval '1 month - 1 day')"
    )


def in_years(column: str) -> str:
    """Cheap: the text starts with a year 2000-2100 (or fails a cast after this)."""
    c = f"r.{column}"
    return f"{c} >= '{FIRST_YEAR}' AND {c} < '{LAST_YEAR + 1}'"


def _checked(pattern: str, then: str = day_exists("{c}")) -> str:
    return f"CASE WHEN {{c}} ~ '^{pattern}$' THEN {then} ELSE false END"


ZONED_TIME = (
    _checked(
        rf"{_DAY}[T ]([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)",
        f"length({{c}}) <= {MAX_TIME_LENGTH} AND {day_exists('{c}')}",
    ),
    f"an ISO 8601 time with its zone {_YEARS}, e.g. 2026-12-01T10:15:00+08:00",
)
DATE = (_checked(_DAY), f"a date {_YEARS}, YYYY-MM-DD")
MONTH_OR_DAY = (
    _checked(
        rf"{_YEAR}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?",
        f"CASE WHEN length({{c}}) = 7 THEN true ELSE {day_exists('{c}')} END",  # no day
    ),
    f"the billed period {_YEARS}, YYYY-MM (a month) or YYYY-MM-DD (a day)",
)


def zoned(column: str) -> str:
    """Cheap: the shape of `YYYY-MM-DDThh:mm...` ending in a zone (the cast checks the rest;
    without a zone PostgreSQL would read the time in the server's zone), its year, and its
    length. LIKE, not substr() and length(): in a UTF-8 database those count characters from
    the start on every call (1.6 s a million lines against 0.4 s, measured); `_` still
    matches one character, and octet_length is constant-time."""
    c = f"r.{column}"
    shapes = ("%Z", "%+_____", "%-_____", "%+____", "%-____", "%+__", "%-__")  # Z, ±hh:mm...
    return (
        f"({c} LIKE '____-_____T%' OR {c} LIKE '____-_____ %') AND ("
        + " OR ".join(f"{c} LIKE '{shape}'" for shape in shapes)
        + f") AND {in_years(column)} AND octet_length({c}) <= {MAX_TIME_LENGTH}"
    )
