"""HTTP surface of the commerce room (controllers only; rules live in commerce/)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

import commerce
import fulfillment
import payments
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.idempotency import Finish, Outcome, Respond, idempotent, strict_body
from api.security import PrincipalDep, authenticated, customers_and_agents, require_roles
from auth import check_verification, get_customer
from commerce import (
    CancelIn,
    LineRequest,
    MoneyJson,
    OfferIn,
    OfferOut,
    OfferPage,
    OrderIn,
    OrderOut,
    OrderPage,
    OrderStatus,
    offer_out,
    order_out,
)
from core.errors import Forbidden, ValidationFailed
from core.idempotency import Completion
from core.money import Money
from core.principal import Principal
from core.runtime import Runtime

Limit = Annotated[int, QueryParameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]

ORDER_PROBLEMS = {
    403: "staff without the agent or supervisor role (problem+json)",
    404: "No such order, or not yours (problem+json)",
    409: "sold-out (names the offer), busy (Retry-After), idempotency-in-progress, "
    "invalid-transition (problem+json)",
    422: "Validation failed or idempotency-conflict (problem+json)",
}


@get("/v1/offers", tags=["commerce"], summary="Search bookable offers")
async def list_offers(
    runtime: RuntimeDep,
    session: SessionDep,
    kind: FromQuery[str | None] = None,
    q: Annotated[str | None, QueryParameter(max_length=100)] = None,
    on: Annotated[date | None, QueryParameter(description="local date the offer starts")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> OfferPage:
    page = await commerce.search_offers(
        session,
        now=runtime.clock.now(),
        zone=runtime.settings.zone,
        kind=kind,
        q=q,
        on=on,
        limit=limit,
        cursor=cursor,
    )
    return OfferPage([offer_out(o) for o in page.items], page.next_cursor)


@get("/v1/offers/{offer_id:str}", tags=["commerce"], summary="One offer with availability")
async def get_offer(session: SessionDep, offer_id: FromPath[str]) -> OfferOut:
    return offer_out(await commerce.get_offer(session, offer_id))


@post(
    "/v1/offers",
    tags=["commerce"],
    summary="Create an offer (admin)",
    guards=[require_roles("admin")],
    opt={"problems": {409: "offer-code-taken (problem+json)"}},
)
async def create_offer(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    session: SessionDep,
    data: JSONBody[OfferIn],
) -> OfferOut:
    body: OfferIn = await strict_body(request, OfferIn)
    offer = await commerce.create_offer(
        session,
        kind=body.kind,
        title=body.title,
        venue=body.venue,
        starts_at=body.starts_at,
        price=Money(body.price.amount, body.price.currency),
        capacity=body.capacity,
        code=body.code,
        currency=runtime.settings.currency,
        now=runtime.clock.now(),
    )
    return offer_out(offer)


@post(
    "/v1/orders",
    tags=["commerce"],
    summary="Place an order: holds capacity until hold_expires_at",
    guards=[customers_and_agents],
    status_code=201,
    opt={"problems": ORDER_PROBLEMS},
)
async def create_order(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    services: ServicesDep,
    data: JSONBody[OrderIn],
) -> Response[OrderOut]:
    # No session or principal dependency: the guard's check is remembered, and a customer's
    # order reads nothing through SQLAlchemy (commerce/placing_pg.py), so none is opened for it.
    principal = await authenticated(request)
    commerce.check_order_staff(principal)
    body: OrderIn = await strict_body(request, OrderIn)
    now = runtime.clock.now()

    async def work(respond: Respond) -> Outcome:
        customer_id = await _customer_for(runtime, principal, body, now=now)
        response: dict[str, Any] = {}

        def reply(order: commerce.Order | commerce.PlacedOrder) -> Completion | None:
            response.clear()
            response.update(msgspec.to_builtins(order_out(order)))
            return respond(201, response, order.id)

        order = await services.placement.place(
            customer_id=customer_id,
            lines=[LineRequest(i.offer_id, i.quantity) for i in body.items],
            delivery_method=body.delivery.method,
            delivery_address=body.delivery.address,
            actor=principal.actor,
            channel=principal.channel,
            now=now,
            respond=reply,
        )
        return 201, response, order.id

    return await idempotent(
        request,
        runtime,
        None,
        operation="orders.create",
        caller=principal.actor,
        payload=msgspec.to_builtins(body),
        committed_work=work,
    )


async def _customer_for(
    runtime: Runtime, principal: Principal, body: OrderIn, *, now: datetime
) -> str:
    """Customers order for themselves; agents for a caller they verified minutes ago."""
    if principal.is_customer:
        if body.customer_id not in (None, principal.id):
            raise Forbidden("customers can only order for themselves")
        return principal.id
    if not body.customer_id:
        raise ValidationFailed.field("customer_id", "required when an agent places the order")
    async with runtime.sessions() as session:
        await get_customer(session, body.customer_id)
        await check_verification(
            session,
            body.verification_id or "",
            customer_id=body.customer_id,
            agent_id=principal.id,
            now=now,
        )
    return body.customer_id


class PaymentSummary(msgspec.Struct):
    id: str
    method: str
    status: str
    amount: MoneyJson
    refunded: MoneyJson
    created_at: datetime


class OrderDetail(OrderOut, kw_only=True):
    """The order with its history, payments (payments room) and shipments (fulfillment)."""

    payments: list[PaymentSummary]
    shipments: list[Any]  # fulfillment ShipmentOut: id, partner_code, status, tracking, events


@get(
    "/v1/orders/{order_id:str}",
    tags=["commerce"],
    summary="An order with its history, payments and shipments",
    guards=[customers_and_agents],
    opt={"problems": ORDER_PROBLEMS},
)
async def get_order(
    session: SessionDep, principal: PrincipalDep, order_id: FromPath[str]
) -> OrderDetail:
    commerce.check_order_reader(principal)  # finance reads orders too (read-only)
    order = await commerce.get_order_for(session, order_id, principal)
    base = order_out(order, await commerce.order_history(session, order.id))
    paid = [
        PaymentSummary(
            p.id,
            p.method,
            p.status,
            MoneyJson(p.amount, p.currency),
            MoneyJson(p.refunded_amount, p.currency),
            p.created_at,
        )
        for p in await payments.payments_for_order(session, order.id)
    ]
    shipped = await fulfillment.order_shipments(session, order.id)
    return OrderDetail(
        **{f: getattr(base, f) for f in OrderOut.__struct_fields__},
        payments=paid,
        shipments=shipped,
    )


@get(
    "/v1/orders",
    tags=["commerce"],
    summary="Orders, newest first (a customer sees only their own)",
    guards=[customers_and_agents],
)
async def list_orders(
    session: SessionDep,
    principal: PrincipalDep,
    customer_id: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    number: Annotated[str | None, QueryParameter(max_length=20, description="order number")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> OrderPage:
    try:
        wanted = OrderStatus(status) if status else None
    except ValueError:
        raise ValidationFailed.field("status", "not an order status") from None
    page = await commerce.list_orders(
        session,
        principal,
        customer_id=customer_id,
        status=wanted,
        number=number,
        limit=limit,
        cursor=cursor,
    )
    return OrderPage([order_out(o) for o in page.items], page.next_cursor)


@post(
    "/v1/orders/{order_id:str}/cancel",
    tags=["commerce"],
    summary="Cancel: seats go back; a paid order is refunded by payments",
    guards=[customers_and_agents],
    status_code=200,
    opt={"problems": ORDER_PROBLEMS},
)
async def cancel_order(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    order_id: FromPath[str],
    data: JSONBody[CancelIn | None] = None,
) -> Response[OrderOut]:
    commerce.check_order_staff(principal)
    raw = await request.body()
    body: CancelIn = await strict_body(request, CancelIn) if raw.strip() else CancelIn()

    async def work(finish: Finish) -> Outcome:
        order = await commerce.cancel_order(
            session, order_id, principal, reason=body.reason, now=runtime.clock.now()
        )
        history = await commerce.order_history(session, order.id)
        return 200, msgspec.to_builtins(order_out(order, history)), order.id

    return await idempotent(
        request,
        runtime,
        session,
        operation="orders.cancel",
        caller=principal.actor,
        payload=msgspec.to_builtins(body),
        staged_work=work,
    )


ROUTES: list[Any] = [
    list_offers,
    get_offer,
    create_offer,
    create_order,
    get_order,
    list_orders,
    cancel_order,
]
