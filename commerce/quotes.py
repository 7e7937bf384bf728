"""The quote of an order placed on its own (commerce/placing_pg.py), mostly from memory.

An offer's code, title, start, price and currency never change once it is created (only
`available` does, and only through capacity.py), so a process keeps the rows it has read and
quotes from them without a round trip. Nothing is trusted that matters: commerce_place_order
re-checks price, currency and start in the UPDATE that takes the seats, and availability is
only ever judged by that UPDATE. The remembered `available` is a hint that decides when to
read again: enough seats by the hint means try the hold; too few means read afresh before
refusing, so a refusal is always based on the database. A row is kept for at most `TTL`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from .domain import LineRequest

TTL = 60.0  # seconds a remembered row is used
SIZE = 1024  # offers remembered per process

_SELECT = (
    "SELECT id, code, title, starts_at, price_amount, currency, available"
    " FROM offers WHERE id = ANY($1::text[])"
)
_rows: OrderedDict[str, tuple[float, SimpleNamespace]] = OrderedDict()


async def quote_rows(
    pg: Any, lines: Sequence[LineRequest], *, fresh: bool = False
) -> dict[str, SimpleNamespace]:
    """The offer rows for `lines` by id, as guards.check_quote reads them (a missing id is
    an unknown offer). `fresh` reads the database whatever is remembered."""
    ids = [line.offer_id for line in lines]
    if not fresh:
        remembered = _remembered(ids)
        if remembered is not None and all(
            remembered[line.offer_id].available >= line.quantity for line in lines
        ):
            return remembered
    return await read(pg, ids)


async def read(pg: Any, ids: Sequence[str]) -> dict[str, SimpleNamespace]:
    """Read the rows from the database, and remember them."""
    rows = {r["id"]: SimpleNamespace(**r) for r in await pg.fetch(_SELECT, list(ids))}
    expires = time.monotonic() + TTL
    for offer_id, row in rows.items():
        _rows[offer_id] = (expires, row)
        _rows.move_to_end(offer_id)
    while len(_rows) > SIZE:
        _rows.popitem(last=False)
    return rows


def _remembered(ids: Sequence[str]) -> dict[str, SimpleNamespace] | None:
    now, found = time.monotonic(), {}
    for offer_id in ids:
        hit = _rows.get(offer_id)
        if hit is None or hit[0] <= now:
            return None
        found[offer_id] = hit[1]
    return found
