"""What the customer shop's two busiest pages show, read as plain SQL on asyncpg (core.drivers).

Why this exists: under bench/shop.py a profile of the server put a third of the offer list's
and the order page's CPU in SQLAlchemy: the session's BEGIN/COMMIT, the ORM building Offer
and Order entities (and the order's items by a second, selectin query) for an identity map the
page throws away. Here each page reads only the columns it shows in one statement of its
own (no transaction around it), into frozen rows. `offer_cards` and `order_view` in
commerce.views are the plain path (the ORM functions every other caller uses, converted to
the same rows); tests/integration/commerce/test_views_pg.py holds the two to the same results.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.errors import NotFound, ValidationFailed
from core.paging import Page, decode_cursor, page_of

from .domain import OfferKind
from .offers import local_day
from .views import OfferCard, OrderLine, OrderView

_TEXT = ("title", "venue", "code")  # what `q` matches, as search_offers
_CARD = "id, code, kind, title, venue, starts_at, price_amount, currency, available"

_ORDER = """
SELECT o.id, o.number, o.customer_id, o.status, o.currency, o.subtotal, o.booking_fee,
       o.delivery_fee, o.total, o.delivery_method, o.delivery_address, o.hold_expires_at,
       ARRAY(SELECT ROW(i.offer_id, i.offer_code, i.title, i.starts_at, i.quantity,
                        i.unit_price, i.line_total)
             FROM order_items i WHERE i.order_id = o.id ORDER BY i.offer_id, i.id) AS items
FROM orders o WHERE o.id = $1 AND o.customer_id = $2
"""


async def offer_cards_on(
    driver: Any,
    *,
    now: datetime,
    zone: ZoneInfo,
    kind: str | None = None,
    q: str | None = None,
    on: date | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[OfferCard]:
    """commerce.search_offers for the shop (bookable offers, soonest first), as cards.

    The statement has one shape per combination of filters (at most 16, each prepared once
    per connection by asyncpg), so PostgreSQL plans every shape with its own conditions."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if kind:
        try:
            where.append(f"kind = {arg(OfferKind(kind).value)}")
        except ValueError:
            raise ValidationFailed.field("kind", "one of event, train, flight, hotel") from None
    if q and q.strip():
        escaped = q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        n = arg(f"%{escaped}%")
        where.append("(" + " OR ".join(f"lower({c}) LIKE {n} ESCAPE '\\'" for c in _TEXT) + ")")
    if on is not None:
        start, end = local_day(on, zone)
        where.append(f"starts_at >= {arg(start)} AND starts_at < {arg(end)}")
    where.append(f"starts_at > {arg(now)}")
    if cursor:
        at, last_id = decode_cursor(cursor)
        a, b = arg(at), arg(last_id)
        where.append(f"(starts_at > {a} OR (starts_at = {a} AND id > {b}))")
    # only the fixed fragments above are joined in; every value is a bound parameter
    sql = (
        f"SELECT {_CARD} FROM offers WHERE {' AND '.join(where)}"  # noqa: S608
        f" ORDER BY starts_at, id LIMIT {arg(limit + 1)}"
    )
    rows = [OfferCard(*row) for row in await driver.fetch(sql, *args)]
    return page_of(rows, limit, lambda c: (c.starts_at, c.id))


async def order_view_on(driver: Any, order_id: str, customer_id: str) -> OrderView:
    """The customer's order with its lines, or NotFound (also for someone else's order, as
    commerce.get_order_for: an id is not confirmed to a stranger)."""
    row = await driver.fetchrow(_ORDER, order_id, customer_id)
    if row is None:
        raise NotFound(f"no order {order_id}")
    fields = dict(row.items())  # _ORDER's columns are OrderView's fields
    fields["items"] = tuple(OrderLine(*line) for line in fields["items"])
    return OrderView(**fields)
