"""Keyset pagination for every list (`?limit=&cursor=` -> `{items, next_cursor}`).

The cursor is the (timestamp, id) of the last row served, opaque to clients: stable under
inserts, never an offset, and the same shape in every room.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from core.dates import in_window
from core.errors import ValidationFailed

T = TypeVar("T")
S = TypeVar("S", bound=Select)  # any row shape: Select is variadic in SQLAlchemy 2.1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(at: datetime, last_id: str) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, last_id = raw.split("|", 1)
        when = datetime.fromisoformat(at)
        # a forged cursor's far-off time would overflow when the driver converts it to UTC
        if when.tzinfo is None or not last_id or not in_window(when):
            raise ValueError
        return when, last_id
    except ValueError:
        raise ValidationFailed.field("cursor", "not a cursor from this list") from None


def keyset(
    stmt: S,
    at: InstrumentedAttribute[datetime],
    row_id: InstrumentedAttribute[str],
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = True,
) -> S:
    """Order by (at, id), start after the cursor, and fetch one row more than the page to
    know whether another page follows (see `page_of`)."""
    if cursor:
        last_at, last_id = decode_cursor(cursor)
        if newest_first:
            stmt = stmt.where(or_(at < last_at, and_(at == last_at, row_id < last_id)))
        else:
            stmt = stmt.where(or_(at > last_at, and_(at == last_at, row_id > last_id)))
    order = (at.desc(), row_id.desc()) if newest_first else (at, row_id)
    return stmt.order_by(*order).limit(limit + 1)


def page_of(rows: Sequence[T], limit: int, key: Callable[[T], tuple[datetime, str]]) -> Page[T]:
    """The page out of `keyset`'s limit + 1 rows, with the cursor of its last row."""
    items = list(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items, encode_cursor(*key(items[-1])) if more else None)
