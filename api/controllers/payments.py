"""HTTP surface of the payments room (controllers only; rules live in payments/)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.params import FromPath, HeaderParameter, JSONBody

import commerce
import payments
from api.composition import Services
from api.deps import RuntimeDep, ServicesDep, SessionDep
from core.db import commit
from core.errors import DomainError
from web.shop import paypage
from web.shop.paypage import pay_link_problem

TAGS = ["payments"]


def payment_json(
    deps: payments.PaymentDeps, p: payments.Payment | payments.Charged
) -> dict[str, Any]:
    """A payment, or a carrier charge's row (payments.Charged: succeeded, no pay link)."""
    pay_url = None
    if isinstance(p, payments.Payment) and p.status not in payments.domain.FINAL:
        pay_url = payments.pay_url(deps, p)
    return {
        "id": p.id,
        "order_id": p.order_id,
        "method": p.method,
        "status": p.status,
        "amount": {"amount": p.amount, "currency": p.currency},
        "refunded": {"amount": p.refunded_amount, "currency": p.currency},
        "pay_url": pay_url,
        "created_at": p.created_at.isoformat(),
    }


@get(
    "/pay/{token:str}",
    tags=TAGS,
    summary="The pay page behind a pay link (HTML)",
    media_type=MediaType.HTML,
    include_in_schema=True,
    opt={"problems": {404: "no such pay link", 410: "pay link expired"}},
)
async def pay_page(
    request: Request[Any, Any, Any],
    token: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
) -> Response[Any]:
    """The hosted pay page (web/templates/shop/pay.html): the order, the hold's countdown,
    Stripe.js card Element; card data never reaches this server. In demo mode without
    Stripe, a demo form served by the app (test cards only). A bad link is a page too."""
    deps = services.payments
    now = runtime.clock.now()
    try:
        p = await payments.payment_for_token(session, token)
    except DomainError as exc:
        return pay_link_problem(request, exc)
    order = await commerce.get_order(session, p.order_id)
    unpayable = await payments.unpayable_status(session, deps.orders, p, now)
    if unpayable is not None:
        # No form and no SetupIntent: a cancelled or expired order takes no card. Still a
        # page for the customer's browser, with the status code /charge would answer.
        return paypage.pay_page(
            request,
            token=token,
            payment=p,
            order=order,
            now=now,
            status="not_payable",
            unpayable=unpayable,
            status_code=409,
        )
    await commit(session)  # end the read: no transaction is open while Stripe is asked
    try:
        p = await payments.ensure_setup_intent(runtime.sessions, deps, token, now)
    except DomainError as exc:
        return pay_link_problem(request, exc)
    return paypage.pay_page(
        request,
        token=token,
        payment=p,
        order=order,
        now=now,
        status=p.status,
        setup_secret=p.setup_client_secret,
        js_url=runtime.settings.stripe_js_url,
        publishable_key=runtime.settings.stripe_publishable_key or "pk_test_hotline",
        demo=isinstance(deps.gateway, payments.DemoCardGateway),
    )


class ChargeBody(msgspec.Struct, forbid_unknown_fields=True):
    payment_method: str


@post(
    "/pay/{token:str}/charge",
    tags=TAGS,
    summary="Charge the pay link's attempt with a PaymentMethod (called by the pay page)",
    status_code=200,
    opt={
        "problems": {
            404: "no such pay link",
            409: "order cancelled or expired",
            410: "pay link expired",
        }
    },
)
async def pay_charge(
    token: FromPath[str], data: JSONBody[ChargeBody], runtime: RuntimeDep, services: ServicesDep
) -> dict[str, Any]:
    """The page confirmed a SetupIntent; charge this attempt's PaymentIntent with its method.
    No request session: the charge commits its claim before it asks Stripe."""
    deps = services.payments
    p, secret = await payments.charge_card(
        runtime.sessions, deps, token, data.payment_method, now=runtime.clock.now()
    )
    return {"status": p.status, "client_secret": secret, "detail": p.failure_reason}


@post(
    "/pay/{token:str}/confirm",
    tags=TAGS,
    summary="After 3-D Secure: ask the gateway and settle",
    status_code=200,
    opt={"problems": {404: "no such pay link"}},
)
async def pay_confirm(
    token: FromPath[str], runtime: RuntimeDep, services: ServicesDep, session: SessionDep
) -> dict[str, Any]:
    """Back from 3-D Secure: ask Stripe and settle (the same function the webhook uses)."""
    deps = services.payments
    now = runtime.clock.now()
    p = await payments.payment_by_token(session, token, now)
    await commit(session)  # end the read: no transaction is open while Stripe is asked
    p = await payments.refresh_from_gateway(
        runtime.sessions, deps, p, actor=f"customer:{p.customer_id}", now=now
    )
    return {"status": p.status, "detail": p.failure_reason}


@get(
    "/pay/{token:str}/status",
    tags=TAGS,
    summary="The pay link's payment status",
    opt={"problems": {404: "no such pay link"}},
)
async def pay_status(
    token: FromPath[str], runtime: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    p = await payments.payment_by_token(session, token, runtime.clock.now())
    return {"status": p.status}


@post(
    "/v1/webhooks/stripe",
    tags=TAGS,
    summary="Stripe events (signed); each event id is processed once",
    status_code=200,
    opt={"problems": {400: "bad signature, or a signed body that is no event"}, "raw_body": True},
)
async def stripe_webhook(
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    services: ServicesDep,
    stripe_signature: Annotated[str | None, HeaderParameter(name="Stripe-Signature")] = None,
) -> dict[str, str]:
    """Signed Stripe events; each event id is processed once (its own short transactions,
    none open while Stripe is asked)."""
    raw = await request.body()
    event = payments.parse_event(raw, stripe_signature, runtime.settings.stripe_webhook_secret)
    outcome = await payments.handle_event(
        runtime.sessions,
        services.payments,
        event,
        now=runtime.clock.now(),
        reads=runtime.autocommit(),
        drivers=runtime.drivers,
    )
    return {"received": event["id"], "outcome": outcome}


ROUTES: list[Any] = [pay_page, pay_charge, pay_confirm, pay_status, stripe_webhook]


async def sweep_job(services: Services) -> int:
    """Periodic: settle card attempts and refunds whose gateway answer was lost."""
    deps, runtime = services.payments, services.runtime
    if deps.gateway is None:  # carrier billing only: nothing is left unanswered
        return 0
    return await payments.sweep_once(runtime.sessions, deps, runtime.clock.now())
