"""One SSE stream per open page: the agent's own channel (escalation toasts, inbox), and,
when asked, one order's channel or the wallboard's. A notice only says what changed; the
stream renders the fresh state from the database, so every event shows what is true now.
On connect it sends the current state once, so nothing committed before the subscription
is missed."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request, get
from litestar.channels import ChannelsPlugin
from litestar.params import FromQuery
from litestar.response import ServerSentEvent, ServerSentEventMessage

import commerce
from core.errors import DomainError
from web.access import MeDep
from web.console.caller import order_row
from web.live import agent_channel, order_channel, wallboard_channel
from web.pages import fragment
from web.ports import PortsDep

Req = Request[Any, Any, Any]


async def _order_html(request: Req, services: PortsDep, me: MeDep, order_id: str) -> str:
    async with services.runtime.sessions() as session:
        order = await commerce.get_order_for(session, order_id, me.principal)
        return fragment(
            request, "console/partials/order_status.html", row=await order_row(session, order)
        )


async def _wallboard_html(request: Req, services: PortsDep) -> str:
    from web.console.wallboard import wallboard_data

    async with services.runtime.sessions() as session:
        data = await wallboard_data(session, services)
    return fragment(request, "console/partials/wallboard_cards.html", **data)


async def _inbox_html(request: Req, services: PortsDep, me: MeDep, notice: dict[str, Any]) -> str:
    return fragment(request, "console/partials/toast.html", notice=notice)


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

    async def events() -> AsyncGenerator[ServerSentEventMessage, None]:
        async with plugin.start_subscription(channels) as subscriber:
            if order:
                yield ServerSentEventMessage(
                    event="order", data=await _order_html(request, services, me, order)
                )
            last = b""
            async for raw in subscriber.iter_events():
                if raw == last:  # one notice published on two of our channels
                    continue
                last, notice = raw, json.loads(raw)
                try:
                    if notice.get("kind") == "order" and order and notice.get("order_id") == order:
                        html = await _order_html(request, services, me, order)
                        yield ServerSentEventMessage(event="order", data=html)
                    if notice.get("kind") == "escalation" and me.id in notice.get("notify", []):
                        yield ServerSentEventMessage(
                            event="escalation",
                            data=await _inbox_html(request, services, me, notice),
                        )
                        yield ServerSentEventMessage(event="inbox", data="1")
                    if board and notice.get("kind") in ("escalation", "order"):
                        yield ServerSentEventMessage(
                            event="wallboard", data=await _wallboard_html(request, services)
                        )
                except DomainError:
                    continue

    return ServerSentEvent(
        events(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


ROUTES = [live]
