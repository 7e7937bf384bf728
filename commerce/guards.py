"""What may be sold, defined once: the guards both ways of writing an order enforce.

A line's seats are taken only while, at the moment they are taken:
  - the offer exists (else 422 on `items[i].offer_id`, "no such offer", at the quote),
  - it has not started: `starts_at > now` (else 422 "this offer has already started"),
  - its price and currency are the quoted ones (else 409 busy "the price changed"),
  - `available >= quantity` (else 409 sold-out naming the offer).
Before that, domain.normalise_lines refuses bad quantities and domain.price_order an order
whose lines are priced in more than one currency; and an Idempotency-Key's stored reply
commits with the order or not at all.

`check_quote` refuses early from a read. Each adapter of commerce.placing.OrderPlacement then
re-checks all four in the one conditional UPDATE that takes the seats (PostgreSQL: the
function commerce_place_order; SQLite: capacity.hold), and when that UPDATE matches no row,
`refusal` says why from the offer row as it is now, so both refuse alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import Busy, ValidationFailed
from core.settings import Settings

from .domain import LineRequest
from .errors import SoldOut


@dataclass(frozen=True, slots=True)
class HeldLine:
    """A line as quoted: what its hold must still find when it takes the seats."""

    offer_id: str
    code: str
    title: str
    starts_at: datetime
    quantity: int
    unit_price: int
    currency: str


def check_quote(
    lines: Sequence[LineRequest], rows: dict[str, Any], now: datetime
) -> list[HeldLine]:
    """The quote's refusals, over offer rows by id (anything with the columns id, code,
    title, starts_at, price_amount, currency, available as attributes)."""
    quoted: list[HeldLine] = []
    for i, line in enumerate(lines):
        r = rows.get(line.offer_id)
        if r is None:
            raise ValidationFailed.field(f"items[{i}].offer_id", "no such offer")
        if r.starts_at <= now:
            raise started(i)
        if r.available < line.quantity:
            raise SoldOut(offer_id=r.id, code=r.code, title=r.title, available=r.available)
        quoted.append(
            HeldLine(r.id, r.code, r.title, r.starts_at, line.quantity, r.price_amount, r.currency)
        )
    return quoted


def refusal(held: Sequence[HeldLine], offer_id: str, row: Any, now: datetime) -> Exception:
    """Why the hold of `offer_id`'s line matched no row, judged from the row read just after
    (None: the offer is gone). The same order of checks as the conditional UPDATE's."""
    i, line = next((i, h) for i, h in enumerate(held) if h.offer_id == offer_id)
    if row is not None and (row.price_amount, row.currency) != (line.unit_price, line.currency):
        return Busy("the price changed while ordering; retry", retry_after=1)
    if row is not None and row.starts_at <= now:
        return started(i)
    left = row.available if row is not None else 0
    return SoldOut(offer_id=line.offer_id, code=line.code, title=line.title, available=left)


def started(i: int) -> ValidationFailed:
    return ValidationFailed.field(f"items[{i}].offer_id", "this offer has already started")


def guarded(settings: Settings) -> bool:
    """The one reading of the oversell canary's switch (HOTLINE_TEST_UNGUARDED_HOLDS=1, which
    core.settings refuses outside HOTLINE_ENV=test; refused again here). Read once, when the
    placement adapter is built; False makes the adapters write back what their quote read,
    the read-then-write bug the guards prevent."""
    return not (settings.env == "test" and settings.test_unguarded_holds == 1)
