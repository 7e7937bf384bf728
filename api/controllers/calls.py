"""Calls for agents and supervisors (docs/http-api.md, Calls): the call records the IVR writes, the
screen pop of a live call with its keypad verification, answering and wrapping up, and the
skill queues' figures for the wallboard. Controllers only; the rules live in ticketing/calls.py."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.channels import ChannelsPlugin
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

import ticketing
import web
from api.deps import RuntimeDep, SessionDep
from api.security import PrincipalDep, agents_only, require_roles
from auth import phone_or_422
from core.dates import check_in_window
from core.db import commit
from core.errors import NotFound, ValidationFailed
from core.runtime import Runtime

T = ["calls"]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page")]


async def tell_wallboard(
    request: Request[Any, Any, Any], runtime: Runtime, call_sid: str, step: str
) -> None:
    """After the commit of a step that moves a call in or out of a queue: the supervisors'
    wallboards re-read their figures (web.live; Redis pub/sub reaches every process)."""
    plugin = request.app.plugins.get(ChannelsPlugin)
    await web.tell_call(web.plugin_publisher(plugin), runtime.settings, call_sid, step)


def call_json(view: ticketing.CallView, now: datetime) -> dict[str, Any]:
    c, v = view.call, view.verification

    def at(t: datetime | None) -> str | None:
        return t.isoformat() if t else None

    return {
        "call_sid": c.call_sid,
        "from": c.from_phone,
        "to": c.to_phone,
        "customer_id": c.customer_id,
        "language": c.language,
        "menu_path": list(c.menu_path),
        "verification": c.verification,
        "verified_by_keypad": view.verified_by_keypad,
        "verification_detail": None
        if v is None
        else {
            "id": v.id,
            "channel": v.channel,
            "customer_id": v.customer_id,
            "agent_id": v.agent_id,
            "verified_at": at(v.created_at),
            "expires_at": at(v.expires_at),
        },
        "status": c.status,
        "queue": c.queue,
        "wait_seconds": view.wait_seconds(now),
        "agent_id": c.agent_id,
        "wrap_up_code": c.wrap_up_code,
        "outcome": c.outcome,
        "provider_status": c.provider_status,
        "duration_seconds": c.duration_seconds,
        "started_at": at(c.started_at),
        "enqueued_at": at(c.enqueued_at),
        "answered_at": at(c.answered_at),
        "ended_at": at(c.ended_at),
        "wrapped_up_at": at(c.wrapped_up_at),
    }


@get(
    "/v1/calls",
    guards=[agents_only],
    tags=T,
    summary="Call records, newest first (status: menu, waiting, answered, ended)",
    opt={"problems": {422: "validation failed (status, queue, limit, cursor)"}},
)
async def list_calls(
    runtime: RuntimeDep,
    session: SessionDep,
    status: FromQuery[str | None] = None,
    queue: FromQuery[str | None] = None,
    cursor: Cursor = None,
    limit: FromQuery[int] = 50,
) -> dict[str, Any]:
    page = await ticketing.list_calls(
        session, status=status, queue=queue, limit=limit, cursor=cursor
    )
    now = runtime.clock.now()
    views = [await ticketing.call_view(session, c) for c in page.items]
    return {"items": [call_json(v, now) for v in views], "next_cursor": page.next_cursor}


@get(
    "/v1/calls/{call_sid:str}",
    guards=[agents_only],
    tags=T,
    summary="One call's record with its verification (a keypad-verified caller is "
    "`verified_by_keypad`)",
    opt={"problems": {404: "no such call"}},
)
async def get_call(
    call_sid: FromPath[str], runtime: RuntimeDep, session: SessionDep
) -> dict[str, Any]:
    call = await ticketing.get_call(session, call_sid)
    return call_json(await ticketing.call_view(session, call), runtime.clock.now())


@get(
    "/v1/screen-pop",
    guards=[agents_only],
    tags=T,
    summary="The live call (not ended) of a calling number or CallSid, with its verification: "
    "what the console shows when a call reaches the agent",
    opt={"problems": {404: "no live call", 422: "phone or call_sid required"}},
)
async def screen_pop(
    runtime: RuntimeDep,
    session: SessionDep,
    phone: FromQuery[str | None] = None,
    call_sid: FromQuery[str | None] = None,
) -> dict[str, Any]:
    if not phone and not call_sid:
        raise ValidationFailed.field("phone", "give phone or call_sid")
    e164 = phone_or_422(runtime, phone) if phone and not call_sid else None
    view = await ticketing.active_call(session, call_sid=call_sid, phone=e164)
    if view is None:
        raise NotFound("no live call")
    return call_json(view, runtime.clock.now())


@post(
    "/v1/calls/{call_sid:str}/answer",
    guards=[agents_only],
    tags=T,
    status_code=200,
    summary="The logged-in agent answers a waiting call: records the agent and the time, "
    "and the caller's keypad verification becomes this agent's",
    opt={"problems": {404: "no such call", 409: "the call is not waiting"}},
)
async def answer_call(
    request: Request[Any, Any, Any],
    call_sid: FromPath[str],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    now = runtime.clock.now()
    call = await ticketing.answer_call(session, call_sid, principal.id, now)
    out = call_json(await ticketing.call_view(session, call), now)
    await commit(session)
    await tell_wallboard(request, runtime, call.call_sid, "answered")
    return out


class WrapUpIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str


@post(
    "/v1/calls/{call_sid:str}/wrap-up",
    guards=[agents_only],
    tags=T,
    status_code=200,
    summary="The answering agent's wrap-up code (once; may follow the end of the call)",
    opt={"problems": {404: "no such call", 409: "not your call, or wrapped up already"}},
)
async def wrap_up_call(
    call_sid: FromPath[str],
    data: JSONBody[WrapUpIn],
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    now = runtime.clock.now()
    call = await ticketing.wrap_up_call(session, call_sid, principal.id, data.code, now)
    return call_json(await ticketing.call_view(session, call), now)


@get(
    "/v1/call-queues",
    guards=[require_roles("supervisor")],
    tags=T,
    summary="Per skill queue: calls waiting, the longest wait, and the service level (share "
    "answered within HOTLINE_VOICE_SERVICE_LEVEL_SECONDS) since `since` (default: today)",
    opt={"problems": {422: "validation failed (since)"}},
)
async def queue_stats(
    runtime: RuntimeDep, session: SessionDep, since: FromQuery[datetime | None] = None
) -> dict[str, Any]:
    now = runtime.clock.now()
    if since is not None and since.tzinfo is None:
        raise ValidationFailed.field("since", "a time with its zone")
    if since is not None:
        check_in_window("since", since)
    if since is None:  # midnight today in the business time zone
        zone = runtime.settings.zone
        since = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    stats = await ticketing.queue_stats(
        session,
        now=now,
        since=since,
        threshold_seconds=runtime.settings.voice_service_level_seconds,
    )
    return {
        "since": since.isoformat(),
        "threshold_seconds": runtime.settings.voice_service_level_seconds,
        "items": [dataclasses.asdict(s) for s in stats],
    }


ROUTES: list[Any] = [list_calls, get_call, screen_pop, answer_call, wrap_up_call, queue_stats]
