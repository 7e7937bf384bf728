"""Payments routes that need a principal: start a payment, refunds, ledger export, phone
accounts. Controllers only; rules live in payments/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

import commerce
import payments
import ticketing
from api.controllers.payments import payment_json
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.finance_dates import span, zone_for
from api.idempotency import HEADER, Outcome, Respond, idempotent, keyed_request, strict_body
from api.security import PrincipalDep, authenticated, customers_and_agents, require_roles
from core.db import commit, new_id, unit_of_work
from core.errors import ValidationFailed
from core.idempotency import Claim, Completion, completion, store
from core.money import AmountIn
from core.principal import Principal
from core.runtime import Runtime

TAGS = ["payments"]


def _require_key(request: Request[Any, Any, Any]) -> str:
    key = request.headers.get(HEADER)
    if not key:
        raise ValidationFailed.field(HEADER, "required on writes that move money")
    return key


class PaymentIn(msgspec.Struct, forbid_unknown_fields=True):
    method: str


@post(
    "/v1/orders/{order_id:str}/payments",
    tags=TAGS,
    summary="Pay an order: card (pay link) or carrier billing (Idempotency-Key required)",
    guards=[customers_and_agents],
    status_code=201,
    opt={
        "problems": {
            402: "insufficient-credit",
            404: "order not found",
            409: "already paid / not payable",
        }
    },
)
async def create_payment(
    request: Request[Any, Any, Any],
    order_id: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    data: JSONBody[PaymentIn],
) -> Response[Any]:
    """`card`: a pay link (also sent by SMS); `carrier_billing`: charged to the phone account."""
    # No injected session or principal: the carrier fast path uses neither, and making the
    # request's session (then closing it unused) was a tenth of that path's Python time in a
    # profile of bench/payments.py. The guard has authenticated the caller (`authenticated`
    # returns what it checked); the other methods get a session of their own, committed when
    # the work returns and rolled back if it raises (core.db.unit_of_work, as provide_session).
    key = _require_key(request)
    body = await strict_body(request, PaymentIn)
    who: Principal = await authenticated(request)
    commerce.check_order_staff(who)  # finance reads orders and payments, it does not pay
    deps = services.payments
    if payments.carrier_fast_path(body.method, runtime.drivers, deps):
        return await _charge_carrier(request, runtime, deps, order_id, who, key, body)
    async with unit_of_work(runtime.sessions) as session:

        async def work() -> tuple[int, Any, str | None]:
            p = await payments.start_payment(
                session,
                deps,
                order_id,
                body.method,
                principal=who,
                request_key=key,
                now=runtime.clock.now(),
            )
            return 201, payment_json(deps, p), p.id

        return await idempotent(
            request,
            runtime,
            session,
            operation=f"payments.create:{order_id}",
            caller=who.actor,
            payload=msgspec.to_builtins(body),
            work=work,
        )


async def _charge_carrier(
    request: Request[Any, Any, Any],
    runtime: Runtime,
    deps: payments.PaymentDeps,
    order_id: str,
    who: Principal,
    key: str,
    body: PaymentIn,
) -> Response[Any]:
    """Carrier billing on PostgreSQL: the one-statement charge (payments/carrier_pg.py), which
    claims the Idempotency-Key in its own transaction (one commit per charge); when it
    declines (nothing written: a key seen before among others), the plain way: the key
    claimed by `idempotent` (replay, 409, 422) and the plain path in a session of its own,
    storing the response in its own commit."""
    now = runtime.clock.now()
    drivers = runtime.drivers
    assert drivers is not None
    operation = f"payments.create:{order_id}"
    payload = msgspec.to_builtins(body)
    keyed = keyed_request(request, operation=operation, caller=who.actor, payload=payload)
    assert keyed is not None  # _require_key: the header is there
    claim = Claim(new_id(), keyed.scope, keyed.key)

    replies: list[Completion] = []

    def claimed_reply(p: payments.Charged) -> Completion:
        replies.append(completion(claim, status=201, body=payment_json(deps, p), resource_id=p.id))
        return replies[-1]

    p = await payments.carrier_pg.charge(
        drivers, order_id, principal=who, request_key=key, now=now, respond=claimed_reply,
        keyed=keyed,
    )  # fmt: skip
    if p is not None:  # the body stored with the key is the body sent
        return Response(replies[-1].body, status_code=201)

    async def work(respond: Respond) -> Outcome:
        async with runtime.sessions() as session, session.begin():
            p = await payments.start_payment(
                session, deps, order_id, body.method, principal=who, request_key=key, now=now
            )
            done = respond(201, payment_json(deps, p), p.id)
            if done is not None:
                await store(session, done)
        return 201, payment_json(deps, p), p.id

    return await idempotent(
        request,
        runtime,
        None,
        operation=operation,
        caller=who.actor,
        payload=payload,
        committed_work=work,
    )


@get(
    "/v1/orders/{order_id:str}/payments",
    tags=TAGS,
    summary="An order's payment attempts",
    guards=[customers_and_agents],
    opt={"problems": {404: "order not found"}},
)
async def list_payments(
    order_id: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    deps = services.payments
    await deps.orders.get(session, order_id, principal)  # 404 for someone else's order
    rows = await payments.payments_for_order(session, order_id)
    return {"items": [payment_json(deps, p) for p in rows], "next_cursor": None}


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str
    amount: AmountIn | None = None
    ticket_id: str | None = None


def refund_json(r: payments.Refund) -> dict[str, Any]:
    return {
        "id": r.id,
        "order_id": r.order_id,
        "payment_id": r.payment_id,
        "status": r.status,
        "amount": {"amount": r.amount, "currency": r.currency},
        "reason": r.reason,
        "ticket_id": r.ticket_id,
        "created_at": r.created_at.isoformat(),
    }


@post(
    "/v1/orders/{order_id:str}/refunds",
    tags=TAGS,
    summary="Refund an order, fully or partly (Idempotency-Key required)",
    guards=[require_roles("supervisor", "finance")],
    status_code=201,
    opt={"problems": {404: "no captured payment", 409: "refund exceeds captured"}},
)
async def create_refund(
    request: Request[Any, Any, Any],
    order_id: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[RefundIn],
) -> Response[Any]:
    """Full (no amount) or partial refund; 202 when the gateway's answer is still unknown."""
    key = _require_key(request)
    body = await strict_body(request, RefundIn)
    who: Principal = principal
    deps = services.payments

    async def work() -> tuple[int, Any, str | None]:
        if body.ticket_id is not None:  # 422 before any money moves
            await ticketing.check_refund_ticket(session, body.ticket_id, order_id)
        await commit(session)  # end the read: no transaction is open while Stripe is asked
        r = await payments.refund_order(
            runtime.sessions,
            deps,
            order_id,
            body.amount,
            reason=body.reason,
            ticket_id=body.ticket_id,
            actor=who.actor,
            request_key=key,
            now=runtime.clock.now(),
        )
        if body.ticket_id is not None:  # on the ticket, stored with the idempotent response
            await ticketing.note_refund(
                session,
                body.ticket_id,
                who,
                refund_id=r.id,
                refunded_order_id=r.order_id,
                now=runtime.clock.now(),
            )
        return (202 if r.status == "unknown" else 201), refund_json(r), r.id

    return await idempotent(
        request,
        runtime,
        session,
        operation=f"payments.refund:{order_id}",
        caller=who.actor,
        payload=msgspec.to_builtins(body),
        work=work,
    )


@get(
    "/v1/finance/ledger.csv",
    tags=TAGS,
    summary="Ledger export (CSV for Excel: BOM, major units, order number, business time)",
    guards=[require_roles("finance")],
    media_type="text/csv",
    opt={"problems": {422: "bad from, to or tz"}},
)
async def ledger_csv(
    runtime: RuntimeDep,
    start: Annotated[str | None, QueryParameter(name="from", max_length=40)] = None,
    end: Annotated[str | None, QueryParameter(name="to", max_length=40)] = None,
    tz: Annotated[str | None, QueryParameter(max_length=16)] = None,
) -> Stream:
    """Every ledger line in [from, to) (plain dates are whole days in the business time
    zone): debit and credit in major units, one row per entry, streamed."""
    zone = zone_for(tz, runtime.settings.zone)
    lo, hi = span(start, end, runtime.settings.zone)

    async def lines() -> AsyncIterator[str]:
        async with runtime.sessions() as session:
            async for line in payments.ledger.export_lines(session, start=lo, end=hi, zone=zone):
                yield line

    return Stream(
        lines(),
        media_type="text/csv",  # Litestar adds "; charset=utf-8" itself, once
        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'},
    )


def incident_json(i: payments.PaymentIncident) -> dict[str, Any]:
    return {
        "id": i.id,
        "payment_id": i.payment_id,
        "order_id": i.order_id,
        "kind": i.kind,
        "detail": i.detail,
        "created_at": i.created_at.isoformat(),
    }


@get(
    "/v1/payments/incidents",
    tags=TAGS,
    summary="Payment incidents: auto refunds, late successes, disputes",
    guards=[require_roles("supervisor", "finance")],
    opt={"problems": {422: "bad limit or cursor"}},
)
async def list_incidents(
    session: SessionDep,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: FromQuery[str | None] = None,
    kind: Annotated[str | None, QueryParameter(max_length=40)] = None,
) -> dict[str, Any]:
    """Payment incidents for supervisors (auto refunds, late successes, disputes), newest first."""
    rows, next_cursor = await payments.list_incidents(
        session, limit=limit, cursor=cursor, kind=kind
    )
    return {"items": [incident_json(i) for i in rows], "next_cursor": next_cursor}


class TopUpIn(msgspec.Struct, forbid_unknown_fields=True):
    amount: AmountIn
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    credit_limit: AmountIn | None = None


@post(
    "/v1/admin/phone-accounts/{customer_id:str}/top-ups",
    tags=TAGS,
    summary="Top up a phone account (the reference makes a repeat a no-op)",
    guards=[require_roles("admin")],
    status_code=200,
    opt={"problems": {404: "no such customer"}},
)
async def top_up(
    request: Request[Any, Any, Any],
    customer_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[TopUpIn],
) -> dict[str, Any]:
    """Add money to a phone account (the reference makes a repeat a no-op)."""
    body = await strict_body(request, TopUpIn)
    acct = await payments.carrier.top_up(
        session,
        customer_id,
        body.amount,
        reference=body.reference,
        actor=principal.actor,
        currency=runtime.settings.currency,
        now=runtime.clock.now(),
        credit_limit=body.credit_limit,
    )
    return account_json(acct)


def account_json(a: payments.PhoneAccount) -> dict[str, Any]:
    return {
        "customer_id": a.customer_id,
        "balance": {"amount": a.balance, "currency": a.currency},
        "credit_limit": {"amount": a.credit_limit, "currency": a.currency},
    }


ROUTES: list[Any] = [
    create_payment,
    list_payments,
    create_refund,
    ledger_csv,
    list_incidents,
    top_up,
]
