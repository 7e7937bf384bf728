"""LIST and INFO: bookable offers, short enough for a feature phone's screen."""

from __future__ import annotations

import commerce
from core.errors import NotFound

from .context import Answer, Turn
from .texts import amount, local_time

LISTED = 4  # a numbered list of four lines stays around one or two segments


async def list_offers(turn: Turn) -> Answer:
    cmd = turn.command
    settings = turn.services.runtime.settings
    page = await commerce.search_offers(
        turn.session, now=turn.now, zone=settings.zone, kind=cmd.kind, on=cmd.on, limit=LISTED
    )
    offers = [o for o in page.items if o.available > 0]
    if not offers:
        return Answer(turn.say("list_empty"), "listed")
    lines = [
        f"{i}.{o.code} {o.title[:12]} {local_time(o.starts_at, settings.zone, '%m-%d')} "
        f"{amount(o.price_amount)}"
        for i, o in enumerate(offers, 1)
    ]
    return Answer("\n".join([*lines, turn.say("list_more")]), "listed")


async def info(turn: Turn) -> Answer:
    code = turn.command.code
    assert code is not None
    try:
        offer = await commerce.find_offer_by_code(turn.session, code)
    except NotFound:
        return Answer(turn.say("no_offer", code=code), "no_offer")
    zone = turn.services.runtime.settings.zone
    reply = turn.say(
        "info",
        code=offer.code,
        title=offer.title[:30],
        venue=offer.venue[:30],
        starts=local_time(offer.starts_at, zone, "%m-%d %H:%M"),
        price=amount(offer.price_amount),
        currency=offer.currency,
        available=offer.available,
    )
    return Answer(reply, "info")
