"""The booking fields the shop and the console both read from a form or a query: seats, the
delivery method and a search date. One check and one message each, so a value one of them
refuses is refused by the other in the same words (web/words.py FIELD_MESSAGES translates
them) and the JSON API's `GET /v1/offers?on=` and `POST /v1/orders` agree."""

from __future__ import annotations

from datetime import date
from typing import Any

import commerce
from core.dates import check_in_window
from core.errors import ValidationFailed

METHODS = ("e_ticket", "courier")


def quantity(raw: Any) -> int:
    try:
        value = int(str(raw))
    except ValueError:
        value = 0
    if not 1 <= value <= commerce.MAX_QUANTITY:
        raise ValidationFailed.field("qty", f"a number of seats from 1 to {commerce.MAX_QUANTITY}")
    return value


def delivery_method(raw: Any, default: str = "") -> str:
    """`raw`, or `default` when the field was left out; anything else is 422 naming `method`
    (not a quote for a method nobody can deliver by)."""
    method = str(raw or default)
    if method not in METHODS:
        raise ValidationFailed.field("method", "e_ticket or courier")
    return method


def search_day(raw: str) -> date | None:
    """A local date to search offers on (`on`), or None when none was given."""
    try:
        day = date.fromisoformat(raw) if raw else None
    except ValueError:
        raise ValidationFailed.field("on", "a date such as 2027-01-31") from None
    return check_in_window("on", day) if day is not None else None
