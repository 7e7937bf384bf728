"""The supervisor's wallboard: one card per skill queue of the phone (calls waiting, longest
wait, service level today; re-read when a call joins, leaves or is answered), one card per
ticket queue (backlog, at risk, breached, oldest waiting), agents by availability and load
against cap, today's orders and takings by channel. Large type, no scrolling; refreshed live
by the stream when an order is paid, a ticket escalates or a call moves (and every 30 s, so
the ages keep moving)."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from litestar import Request, get
from sqlalchemy.ext.asyncio import AsyncSession

import commerce
import ticketing
from web.access import MeDep
from web.console.tickets import names
from web.pages import page
from web.ports import PortsDep, SessionDep

Req = Request[Any, Any, Any]
SUPERVISORS = {"roles": ("supervisor",)}


async def wallboard_data(session: AsyncSession, services: PortsDep) -> dict[str, Any]:
    runtime = services.runtime
    now = runtime.clock.now()
    local = now.astimezone(runtime.settings.zone)
    midnight = datetime.combine(local.date(), time(0), tzinfo=runtime.settings.zone)
    agents = await ticketing.agent_boards(session)
    return {
        "queues": await ticketing.queue_boards(session, now=now),
        "agents": sorted(agents, key=lambda a: (not a.available, -a.open_tickets)),
        "takings": await commerce.takings_since(session, midnight),
        # the IVR's skill queues: waiting now, longest wait, service level since midnight
        "calls": await ticketing.queue_stats(
            session,
            now=now,
            since=midnight,
            threshold_seconds=runtime.settings.voice_service_level_seconds,
        ),
        "names": await names(session, {a.agent_id for a in agents}),
        "now": now,
    }


@get("/console/wallboard", include_in_schema=False, opt=SUPERVISORS)
async def wallboard(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    return page(
        request,
        "console/wallboard.html",
        live_query="?wallboard=1",
        **await wallboard_data(session, services),
    )


@get("/console/wallboard/cards", include_in_schema=False, opt=SUPERVISORS)
async def cards(request: Req, services: PortsDep, session: SessionDep, me: MeDep) -> Any:
    return page(
        request, "console/partials/wallboard_cards.html", **await wallboard_data(session, services)
    )


ROUTES = [wallboard, cards]
