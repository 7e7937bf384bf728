"""The years a date or time sent to the service may fall in: 2000 to 2100.

One rule for every date and time that comes from outside (a query filter, an offer's start, a
finance period, a holiday, a partner's event time, a cursor): a value outside is 422 naming
the field. Nothing Hotline books, records or reports lies before 2000 or after 2100, and the
margin keeps the arithmetic done on these values (a day added for an exclusive end, a zone
offset of up to 14 hours when converting to UTC) far from Python's years 1 and 9999, where it
raises OverflowError (a 500), and from what the drivers of SQLite and PostgreSQL convert.

The check is on the value's own calendar year, before any conversion: inside the window a
conversion cannot overflow, so a caller checks first and computes after.
"""

from __future__ import annotations

from datetime import date
from typing import TypeVar

from core.errors import ValidationFailed

FIRST_YEAR = 2000
LAST_YEAR = 2100
D = TypeVar("D", bound=date)  # a date or a datetime, handed back as it came


def in_window(value: date) -> bool:
    """True when `value` (a date, or a datetime: one is a date) is in years 2000-2100."""
    return FIRST_YEAR <= value.year <= LAST_YEAR


def check_in_window(name: str, value: D) -> D:
    """`value` itself, or ValidationFailed naming `name` when it is outside the years."""
    if not in_window(value):
        raise ValidationFailed.field(name, f"must be in the years {FIRST_YEAR} to {LAST_YEAR}")
    return value
