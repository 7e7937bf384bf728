"""Ticketing set-up and reports for supervisors: agents' capacity, business calendars,
queues, SLA policies, and the ticket report (JSON or CSV)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

import ticketing
from api.deps import RuntimeDep, SessionDep
from api.idempotency import strict_body
from api.security import require_roles
from core.dates import check_in_window
from core.errors import ValidationFailed
from ticketing import AgentIn, CalendarIn, PolicyIn, QueueIn

Req = Request[Any, Any, Any]
supervisors = require_roles("supervisor", "admin")
T = ["ticketing"]


@put(
    "/v1/ticket-agents/{agent_id:str}",
    guards=[supervisors],
    tags=T,
    summary="An agent's availability, cap and queues (frees backlog)",
)
async def put_agent(
    request: Req,
    agent_id: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    data: JSONBody[AgentIn],
) -> dict[str, Any]:
    body: AgentIn = await strict_body(request, AgentIn)
    a = await ticketing.set_agent(
        session, agent_id, available=body.available, cap=body.cap, queues=body.queues
    )
    drained = await ticketing.drain_for_agent(session, agent_id, now=runtime.clock.now())
    return {"agent_id": a.agent_id, "available": a.available, "cap": a.cap, "assigned": drained}


@put(
    "/v1/business-calendars/{name:str}",
    guards=[supervisors],
    tags=T,
    summary="Create or edit a business calendar",
)
async def put_calendar(
    request: Req,
    name: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    data: JSONBody[CalendarIn],
) -> dict[str, Any]:
    body: CalendarIn = await strict_body(request, CalendarIn)
    c = await ticketing.upsert_calendar(
        session,
        name=name,
        zone=body.zone,
        hours=dict(body.hours.items()),
        holidays=body.holidays,
        now=runtime.clock.now(),
    )
    return {"name": c.name, "zone": c.zone, "hours": c.hours, "holidays": c.holidays}


@put(
    "/v1/ticket-queues/{code:str}",
    guards=[supervisors],
    tags=T,
    summary="Create or edit a queue (skill group)",
)
async def put_queue(
    request: Req,
    code: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    data: JSONBody[QueueIn],
) -> dict[str, Any]:
    body: QueueIn = await strict_body(request, QueueIn)
    q = await ticketing.upsert_queue(
        session,
        code=code,
        name=body.name,
        calendar_name=body.calendar,
        categories=body.categories,
        supervisor_id=body.supervisor_id,
        now=runtime.clock.now(),
    )
    return {"code": q.code, "name": q.name, "categories": q.categories}


@post(
    "/v1/sla-policies",
    guards=[supervisors],
    status_code=200,
    tags=T,
    summary="Set the SLA targets of a category and priority (business seconds)",
)
async def set_policy(
    request: Req, runtime: RuntimeDep, session: SessionDep, data: JSONBody[PolicyIn]
) -> dict[str, Any]:
    b: PolicyIn = await strict_body(request, PolicyIn)
    p = await ticketing.set_policy(
        session,
        category=b.category,
        priority=b.priority,
        first_response_s=b.first_response_s,
        next_response_s=b.next_response_s,
        resolution_s=b.resolution_s,
        followup_s=b.followup_s,
        now=runtime.clock.now(),
    )
    return {"id": p.id, "category": p.category, "priority": p.priority}


def _when(name: str, value: str | None, default: datetime) -> datetime:
    if value is None:
        return default
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.field(name, "ISO 8601 date or time") from None
    check_in_window(name, dt)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@get(
    "/v1/reports/tickets",
    guards=[supervisors],
    tags=T,
    summary="Volumes, SLA attainment, handle times, reopen rate, satisfaction (JSON or CSV)",
)
async def report(
    runtime: RuntimeDep,
    session: SessionDep,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: FromQuery[str | None] = None,
    format: FromQuery[str] = "json",
) -> Response[Any]:
    now = runtime.clock.now()
    start = _when("from", from_, now - timedelta(days=30))
    end = _when("to", to, now)
    if end <= start:
        raise ValidationFailed.field("to", "must be after from")
    rep = await ticketing.ticket_report(session, start=start, end=end, now=now)
    if format == "csv":
        return Response(ticketing.report_csv(rep), media_type="text/csv")
    if format != "json":
        raise ValidationFailed.field("format", "json or csv")
    return Response(rep)


ROUTES: list[Any] = [put_agent, put_calendar, put_queue, set_policy, report]
