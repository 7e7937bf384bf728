"""Paying an order from the shop: by phone account (carrier billing, charged now once the
PIN is confirmed with auth's throttled check) or by card, which makes the same pay link the
SMS carries and sends the customer to its page (/pay/{token}). The payments room's
`start_payment` does both, as for the JSON API and the console."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import FromPath

import auth
import payments
from core.db import commit
from core.errors import DomainError, ValidationFailed
from web.once import key_of, once_in
from web.ports import PortsDep, SessionDep
from web.shop.access import ShopperDep
from web.shop.orders import patiently
from web.shop.render import see

Req = Request[Any, Any, Any]


async def _start(
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    order_id: str,
    key: str,
    method: str,
) -> payments.Payment:
    runtime = services.runtime
    made: dict[str, payments.Payment] = {}

    async def work() -> str:
        p = await payments.start_payment(
            session,
            services.payments,
            order_id,
            method,
            principal=shopper.principal,
            request_key=key,
            now=runtime.clock.now(),
        )
        made["p"] = p
        return p.id

    payment_id = await patiently(
        lambda: once_in(
            runtime,
            session,
            key=key,
            scope=f"web.shop.payments.create:{order_id}:{shopper.id}",
            payload={"method": method},
            work=work,
        )
    )
    if "p" in made:
        return made["p"]
    found = [p for p in await payments.payments_for_order(session, order_id) if p.id == payment_id]
    if not found:
        raise ValidationFailed.field("idempotency_key", "reload the order and try again")
    return found[0]


@post("/orders/{order_id:str}/pay/phone", include_in_schema=False)
async def pay_by_phone(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    order_id: FromPath[str],
) -> Any:
    form = await request.form()
    key = key_of(form)
    try:
        await auth.confirm_own_pin(
            services.runtime,
            session,
            shopper.id,
            str(form.get("pin", "")),
            gate=services.throttle,
            address=request.client.host if request.client else "unknown",
        )
    except DomainError as exc:
        await session.rollback()
        if exc.slug in ("throttled", "account-locked"):
            raise
        return see(f"/shop/orders/{order_id}?pin=wrong")
    await commit(session)
    await _start(services, session, shopper, order_id, key, payments.domain.CARRIER)
    return see(f"/shop/orders/{order_id}")


@post("/orders/{order_id:str}/pay/card", include_in_schema=False)
async def pay_by_card(
    request: Req,
    services: PortsDep,
    session: SessionDep,
    shopper: ShopperDep,
    order_id: FromPath[str],
) -> Any:
    form = await request.form()
    p = await _start(services, session, shopper, order_id, key_of(form), "card")
    if not p.pay_token:
        return see(f"/shop/orders/{order_id}")
    return see(f"/pay/{p.pay_token}")


ROUTES = [pay_by_phone, pay_by_card]
