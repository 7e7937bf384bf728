"""One SSE stream per open page: the agent's own channel (escalation toasts, inbox), and,
when asked, one order's channel or the wallboard's. A notice only says what changed; the
stream renders the fresh state from the database, so every event shows what is true now.
On connect it sends the order's current state once, so nothing committed before the
subscription is missed."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import structlog
from litestar import Request, get
from litestar.channels import ChannelsPlugin
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

import commerce
import ticketing
from web.access import MeDep, SignedIn
from web.console.caller import order_row, read_only
from web.console.wallboard import wallboard_data
from web.live import agent_channel, order_channel, wallboard_channel
from web.pages import fragment
from web.ports import Ports, PortsDep

log = structlog.get_logger("hotline.web.live")
Req = Request[Any, Any, Any]
Event = ServerSentEventMessage


async def _order(request: Req, services: Ports, me: SignedIn, order_id: str) -> Event:
    async with read_only(services.runtime) as session:
        order = await commerce.get_order_for(session, order_id, me.principal)
        row = await order_row(session, order)
    return Event(
        event="order", data=fragment(request, "console/partials/order_status.html", row=row)
    )


async def _wallboard(request: Req, services: Ports) -> Event:
    async with services.runtime.sessions() as session:
        data = await wallboard_data(session, services)
    return Event(
        event="wallboard", data=fragment(request, "console/partials/wallboard_cards.html", **data)
    )


async def _toast(request: Req, services: Ports, me: SignedIn, notice: dict[str, Any]) -> Event:
    async with services.runtime.sessions() as session:
        ticket = await ticketing.get_for(session, str(notice.get("ticket_id")), me.principal)
    html = fragment(request, "console/partials/toast.html", notice=notice, ticket=ticket)
    return Event(event="escalation", data=html)


async def _events_for(
    request: Req, services: Ports, me: SignedIn, notice: dict[str, Any], *, order: str, board: bool
) -> list[Event]:
    kind, out = notice.get("kind"), []
    if kind == "order" and order and notice.get("order_id") == order:
        out.append(await _order(request, services, me, order))
    if kind == "escalation" and me.id in notice.get("notify", []) and not board:
        out += [await _toast(request, services, me, notice), Event(event="inbox", data="1")]
    if board and kind in ("escalation", "order", "call"):
        out.append(await _wallboard(request, services))
    return out


@get("/console/live", include_in_schema=False, opt={"passive": True})
async def live(
    request: Req,
    services: PortsDep,
    me: MeDep,
    order: FromQuery[str] = "",
    wallboard: FromQuery[str] = "",
) -> ServerSentEvent:
    settings = services.runtime.settings
    channels = [agent_channel(settings, me.id)]
    if order:
        async with services.runtime.sessions() as session:  # 404 for an order not theirs to see
            commerce.check_order_staff(me.principal)
            await commerce.get_order_for(session, order, me.principal)
        channels.append(order_channel(settings, order))
    board = bool(wallboard) and me.supervises
    if board:
        channels.append(wallboard_channel(settings))
    plugin = request.app.plugins.get(ChannelsPlugin)

    async def events() -> AsyncGenerator[Event, None]:
        async with plugin.start_subscription(channels) as subscriber:
            if order:
                yield await _order(request, services, me, order)
            last = b""
            async for raw in subscriber.iter_events():
                if raw == last:  # one notice published on two of our channels
                    continue
                last = raw
                try:
                    for event in await _events_for(
                        request, services, me, json.loads(raw), order=order, board=board
                    ):
                        yield event
                except Exception as exc:  # one bad render must not end the page's stream
                    log.warning("live event not rendered", error=type(exc).__name__)

    return ServerSentEvent(
        events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


ROUTES = [live]
