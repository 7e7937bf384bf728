"""HTTP surface of the ticketing room (controllers only; rules live in ticketing/)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

import payments
import ticketing
from api.controllers import ticketing_admin
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.idempotency import Outcome, idempotent, keyed_request, strict_body
from api.security import (
    PrincipalDep,
    agents_only,
    authenticated,
    customers_and_agents,
    require_roles,
)
from api.sms_channel.agent_reply import text_agent_reply
from core.db import unit_of_work
from ticketing import (
    AssignmentIn,
    CommentIn,
    FollowUpAttemptIn,
    RefundNoteIn,
    SatisfactionIn,
    TicketIn,
    TransitionIn,
)

Req = Request[Any, Any, Any]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]
supervisors = require_roles("supervisor", "admin")
# Finance may refund an order naming a ticket (POST /v1/orders/{id}/refunds), so it may also
# note on a ticket a refund made earlier.
refund_deciders = require_roles("supervisor", "finance")


OPEN = "tickets.create"  # the Idempotency-Key scope of opening a ticket
TICKET_PROBLEMS = {404: "no such ticket (or not yours)", 422: "validation failed"}
T = ["ticketing"]


@post(
    "/v1/tickets",
    guards=[customers_and_agents],
    status_code=201,
    tags=T,
    summary="Open a complaint ticket (Idempotency-Key: the same key replays the first answer)",
    opt={
        "problems": {
            409: "idempotency-in-progress (Retry-After)",
            422: "validation failed, or idempotency-conflict (same key, another body)",
        }
    },
)
async def open_ticket(
    request: Req,
    runtime: RuntimeDep,
    services: ServicesDep,
    data: JSONBody[TicketIn],
) -> Response[Any]:
    # No injected session or principal (as POST /v1/orders/{id}/payments): a customer's own
    # ticket uses neither, and a request's session made and closed unused cost that path a
    # tenth of its Python time. The guard has authenticated the caller; the plain way below
    # gets a session of its own (core.db.unit_of_work, as provide_session).
    body: TicketIn = await strict_body(request, TicketIn)
    principal = await authenticated(request)
    orders = [*([body.order_id] if body.order_id else []), *body.order_ids]
    payload = msgspec.to_builtins(body)
    opening = services.ticket_opening
    if opening is not None and not orders and body.customer_id in (None, principal.id):
        # A customer's own ticket in one statement, its Idempotency-Key claimed in it
        # (ticketing/opening_pg.py); None: the plain way below (an agent has room, the key
        # was used before, ...), which has written nothing yet.
        keyed = keyed_request(request, operation=OPEN, caller=principal.actor, payload=payload)
        opened = await opening.open(
            principal,
            now=runtime.clock.now(),
            category=body.category,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            channel=body.channel,
            queue=body.queue,
            keyed=keyed,
        )
        if opened is not None:
            return Response(opened.body, status_code=201)

    async with unit_of_work(runtime.sessions) as session:

        async def work() -> Outcome:
            now = runtime.clock.now()
            t = await ticketing.open_ticket(
                session,
                principal,
                now=now,
                category=body.category,
                subject=body.subject,
                description=body.description,
                priority=body.priority,
                channel=body.channel,
                customer_id=body.customer_id,
                order_ids=orders,
                queue=body.queue,
            )
            return 201, await ticketing.ticket_view(session, t, principal, now), t.id

        return await idempotent(
            request,
            runtime,
            session,
            operation=OPEN,
            caller=principal.actor,
            payload=payload,
            work=work,
        )


@get(
    "/v1/tickets",
    guards=[customers_and_agents],
    tags=T,
    summary="List tickets, newest first: {items, next_cursor}",
    opt={"problems": {422: "validation failed (status, queue, limit, cursor)"}},
)
async def list_tickets(
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    status: FromQuery[str | None] = None,
    assignee: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
    breached: FromQuery[bool | None] = None,
    limit: FromQuery[int] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    now = runtime.clock.now()
    page = await ticketing.list_tickets(
        session,
        principal,
        status=status,
        assignee=assignee,
        queue=queue,
        breached=breached,
        now=now,
        limit=limit,
        cursor=cursor,
    )
    items = [
        await ticketing.ticket_view(session, t, principal, now, full=False) for t in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor}


@get(
    "/v1/tickets/{ticket_id:str}",
    guards=[customers_and_agents],
    tags=T,
    summary="A ticket with its timeline and SLA clocks",
    opt={"problems": TICKET_PROBLEMS},
)
async def get_ticket(
    ticket_id: FromPath[str], runtime: RuntimeDep, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    t = await ticketing.get_for(session, ticket_id, principal)
    return await ticketing.ticket_view(session, t, principal, runtime.clock.now())


@post(
    "/v1/tickets/{ticket_id:str}/comments",
    guards=[customers_and_agents],
    status_code=201,
    tags=T,
    summary="A public reply or an internal note",
    opt={"problems": TICKET_PROBLEMS},
)
async def add_comment(
    request: Req,
    ticket_id: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[CommentIn],
) -> dict[str, Any]:
    body: CommentIn = await strict_body(request, CommentIn)
    now = runtime.clock.now()
    c = await ticketing.add_comment(
        session, ticket_id, principal, body=body.body, public=body.public, now=now
    )
    if c.public and principal.is_agent:  # a ticket opened by SMS is answered by SMS
        await text_agent_reply(session, services.sms, ticket_id, principal, c.body)
    return {"id": c.id, "public": c.public, "created_at": c.created_at.isoformat()}


@post(
    "/v1/tickets/{ticket_id:str}/transitions",
    guards=[agents_only],
    status_code=200,
    tags=T,
    summary="Move a ticket through its lifecycle",
    opt={"problems": {**TICKET_PROBLEMS, 409: "invalid-transition"}},
)
async def transition(
    request: Req,
    ticket_id: FromPath[str],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[TransitionIn],
) -> dict[str, Any]:
    body: TransitionIn = await strict_body(request, TransitionIn)
    now = runtime.clock.now()
    t = await ticketing.transition(
        session,
        ticket_id,
        principal,
        to=body.to,
        now=now,
        reason=body.reason,
        sms=services.sms,
    )
    return await ticketing.ticket_view(session, t, principal, now)


@post(
    "/v1/tickets/{ticket_id:str}/assignment",
    guards=[agents_only],
    status_code=200,
    tags=T,
    summary="Assign to an agent or a queue (automatic when neither)",
    opt={"problems": TICKET_PROBLEMS},
)
async def assign(
    request: Req,
    ticket_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[AssignmentIn],
) -> dict[str, Any]:
    body: AssignmentIn = await strict_body(request, AssignmentIn)
    now = runtime.clock.now()
    t = await ticketing.assign(
        session, ticket_id, principal, agent_id=body.agent_id, queue=body.queue, now=now
    )
    return await ticketing.ticket_view(session, t, principal, now, full=False)


@post(
    "/v1/tickets/{ticket_id:str}/satisfaction",
    guards=[agents_only],
    status_code=200,
    tags=T,
    summary="Satisfaction 1-5 entered by an agent",
    opt={"problems": TICKET_PROBLEMS},
)
async def satisfaction(
    request: Req,
    ticket_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[SatisfactionIn],
) -> dict[str, Any]:
    body: SatisfactionIn = await strict_body(request, SatisfactionIn)
    t = await ticketing.record_satisfaction(
        session,
        ticket_id,
        score=body.score,
        source="agent",
        actor=principal.actor,
        now=runtime.clock.now(),
    )
    return {"id": t.id, "satisfaction": t.satisfaction, "agent_id": t.resolved_by}


@post(
    "/v1/followups/{followup_id:str}/attempts",
    guards=[agents_only],
    status_code=200,
    tags=T,
    summary="Record a follow-up call attempt",
    opt={"problems": TICKET_PROBLEMS},
)
async def followup_attempt(
    request: Req,
    followup_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[FollowUpAttemptIn],
) -> dict[str, Any]:
    body: FollowUpAttemptIn = await strict_body(request, FollowUpAttemptIn)
    fu = await ticketing.record_attempt(
        session,
        followup_id,
        principal,
        outcome=body.outcome,
        note=body.note,
        score=body.score,
        now=runtime.clock.now(),
    )
    return {"id": fu.id, "status": fu.status, "attempts": fu.attempts}


@post(
    "/v1/tickets/{ticket_id:str}/refunds",
    guards=[refund_deciders],
    status_code=201,
    tags=T,
    summary="Note the payments refund decided on this ticket",
    opt={"problems": {**TICKET_PROBLEMS, 409: "already noted"}},
)
async def note_refund(
    request: Req,
    ticket_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: JSONBody[RefundNoteIn],
) -> dict[str, Any]:
    body: RefundNoteIn = await strict_body(request, RefundNoteIn)
    refund = await session.get(payments.Refund, body.refund_id) if body.refund_id else None
    r = await ticketing.note_refund(
        session,
        ticket_id,
        principal,
        refund_id=body.refund_id,
        refunded_order_id=refund.order_id if refund is not None else None,
        now=runtime.clock.now(),
    )
    return {"ticket_id": r.ticket_id, "refund_id": r.refund_id}


ROUTES: list[Any] = [
    open_ticket,
    list_tickets,
    get_ticket,
    add_comment,
    transition,
    assign,
    satisfaction,
    followup_attempt,
    note_refund,
    *ticketing_admin.ROUTES,
]
