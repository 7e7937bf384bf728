"""Keyset cursors for ticketing's lists (newest first): opaque to clients, stable under
inserts, never an offset."""

from __future__ import annotations

import base64
from datetime import datetime

from core.errors import ValidationFailed


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
