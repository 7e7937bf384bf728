"""Fulfillment routes that need a principal: partners (admin), an order's shipments (owner or
agent), the dead-letter list and replay (admin). Controllers only; rules live in fulfillment/."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody

import commerce
import fulfillment
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.security import PrincipalDep, customers_and_agents, require_roles
from fulfillment import DeadLetterOut, PartnerIn, PartnerOut, ShipmentOut


@post(
    "/v1/partners",
    guards=[require_roles("admin")],
    status_code=201,
    tags=["fulfillment"],
    summary="Register a delivery partner",
)
async def create_partner(
    data: JSONBody[PartnerIn], runtime: RuntimeDep, session: SessionDep
) -> PartnerOut:
    p = await fulfillment.register_partner(
        session, data, currency=runtime.settings.currency, now=runtime.clock.now()
    )
    return PartnerOut(
        id=p.id,
        code=p.code,
        name=p.name,
        kind=p.kind,
        delivery_method=p.delivery_method,
        endpoint_url=p.endpoint_url,
        cost_minor=p.cost_minor,
        currency=p.currency,
        active=p.active,
    )


@get(
    "/v1/orders/{order_id:str}/shipments",
    guards=[customers_and_agents],
    tags=["fulfillment"],
    summary="An order's shipments with their tracking events",
    opt={"problems": {404: "order not found (or not yours)"}},
)
async def order_shipments(
    order_id: FromPath[str], session: SessionDep, principal: PrincipalDep
) -> list[ShipmentOut]:
    await commerce.get_order_for(session, order_id, principal)  # 404 for someone else's
    return await fulfillment.order_shipments(session, order_id)


@get(
    "/v1/admin/dead-letters",
    guards=[require_roles("admin")],
    tags=["fulfillment"],
    summary="Shipments whose dispatch retries ran out",
)
async def dead_letters(
    session: SessionDep, include_replayed: FromQuery[bool] = False
) -> list[DeadLetterOut]:
    return await fulfillment.list_dead_letters(session, include_replayed=include_replayed)


@post(
    "/v1/admin/dead-letters/{dead_letter_id:str}/replay",
    guards=[require_roles("admin")],
    status_code=200,
    tags=["fulfillment"],
    summary="Dispatch a dead-lettered shipment again (same shipment id and body)",
    opt={"problems": {404: "no such dead letter", 409: "already replayed"}},
)
async def replay_dead_letter(
    dead_letter_id: FromPath[str], runtime: RuntimeDep, services: ServicesDep, session: SessionDep
) -> DeadLetterOut:
    return await fulfillment.replay_dead_letter(
        session, dead_letter_id, now=runtime.clock.now(), policy=services.dispatch_policy
    )


ROUTES: list[Any] = [create_partner, order_shipments, dead_letters, replay_dead_letter]
