"""Keyset cursors for lists: opaque to clients, stable under inserts."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from core.errors import ValidationFailed

T = TypeVar("T")


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
        if when.tzinfo is None or not last_id:
            raise ValueError
        return when, last_id
    except ValueError:
        raise ValidationFailed.field("cursor", "not a cursor from this list") from None
