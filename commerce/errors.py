"""Commerce errors with stable slugs (rendered as problem+json by api/)."""

from __future__ import annotations

from core.errors import Conflict


class SoldOut(Conflict):
    """Not enough capacity left on an offer; the problem names it."""

    slug, title = "sold-out", "Sold out"

    def __init__(self, *, offer_id: str, code: str, title: str, available: int) -> None:
        super().__init__(
            f"{title} ({code}) has {available} left",
            extra={"offer_id": offer_id, "offer_code": code, "available": available},
        )
        self.offer_id = offer_id
        self.available = available


class OfferCodeTaken(Conflict):
    slug, title = "offer-code-taken", "Offer code already in use"
