"""Finance's date filters: plain dates are whole business days, zoned times are taken as given,
anything else is 422 naming the field; major units are decimals a spreadsheet keeps as numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from api.finance_dates import period, span, zone_for
from core.errors import ValidationFailed
from core.money import major_units
from core.text import spreadsheet_line

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_plain_date_is_the_whole_business_day() -> None:
    lo, hi = period("2026-12-01", "2026-12-01", SHANGHAI)
    assert (lo, hi) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 1, 16, tzinfo=UTC),
    )
    lo, hi = period("2026-12-01T00:00:00Z", "2026-12-01T12:00:00+08:00", SHANGHAI)
    assert (lo, hi) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 1, 4, tzinfo=UTC))


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (None, "2026-12-01", "from"),
        ("2026-12-01", None, "to"),
        ("2026-12-02", "2026-12-01", "to"),
        ("2026-12-01T10:00", "2026-12-02", "from"),
        ("yesterday", "2026-12-02", "from"),
        ("2025-01-01", "2026-12-02", "to"),
        # outside the years the service takes (core/dates.py): 422, not OverflowError
        ("0001-01-01", "9999-12-31", "from"),
        ("2026-12-01", "9999-12-31", "to"),
        ("0001-01-01T00:00:00+14:00", "2026-12-02", "from"),
        ("2026-12-01", "9999-12-31T23:59:59-12:00", "to"),
        ("1999-12-31", "2000-01-02", "from"),
    ],
)
def test_bad_periods_name_the_field(start: str | None, end: str | None, field: str) -> None:
    with pytest.raises(ValidationFailed) as bad:
        period(start, end, SHANGHAI)
    assert bad.value.errors and bad.value.errors[0]["field"] == field


def test_an_open_span_refuses_a_reversed_range_as_a_period_does() -> None:
    assert span(None, None, SHANGHAI) == (None, None)
    assert span("2026-12-01", None, SHANGHAI) == (datetime(2026, 11, 30, 16, tzinfo=UTC), None)
    assert span("2000-01-01", "2100-12-31", SHANGHAI)[1] == datetime(2100, 12, 31, 16, tzinfo=UTC)
    for start, end, field in [
        ("2026-12-01", "2026-11-01", "to"),
        (None, "9999-12-31", "to"),
        ("0001-01-01", None, "from"),
    ]:
        with pytest.raises(ValidationFailed) as bad:
            span(start, end, SHANGHAI)
        assert bad.value.errors and bad.value.errors[0]["field"] == field


def test_zone_choice_and_spreadsheet_amounts() -> None:
    assert zone_for(None, SHANGHAI) is SHANGHAI and zone_for("UTC", SHANGHAI) is UTC
    with pytest.raises(ValidationFailed):
        zone_for("Europe/Paris", SHANGHAI)
    assert str(major_units(-1205)) == "-12.05" and str(major_units(7)) == "0.07"
    assert (
        spreadsheet_line(["=1+1", major_units(-100), "-x", "a,b"]) == "'=1+1,-1.00,'-x,\"a,b\"\r\n"
    )
