"""The voice channel's webhooks (docs/http-api.md, Voice): a Twilio-compatible provider posts
form fields (CallSid, From, To, Digits, CallStatus; any other field is accepted and ignored)
and gets TwiML. `X-Twilio-Signature` is checked exactly as on the SMS webhooks (the same
functions).

Each step loads the call's state (api/voice_state.py: Redis, or memory in the demo), runs the
menu (api/voice_flow.py), commits the call's record, then saves the state: a provider retry of
a step whose commit failed finds the state of before and asks again. Log lines name the call
and the step, never the digits. The fields are checked in api/voice_params.py; a call handed
to a queue takes no more menu steps (`_left_ivr` says what it is answered).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import structlog
from litestar import Request, Response, post
from litestar.params import FromPath, URLEncodedBody
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

import ticketing
from api import voice_flow, voice_params
from api.composition import Services
from api.controllers.calls import tell_wallboard
from api.controllers.sms import FORM, SIGNED, TWIML, check_signature
from api.deps import ServicesDep, SessionDep
from api.voice_state import CallState
from api.voice_twiml import Plan
from core.db import commit
from core.errors import NotFound
from core.phone import InvalidPhone, normalise_phone

log = structlog.get_logger("hotline.voice")
CALLS = Counter("hotline_voice_calls_total", "Calls that reached the IVR")
ENDED = Counter("hotline_voice_calls_ended_total", "Calls ended, by outcome", ["outcome"])
Req = Request[Any, Any, Any]
T = ["voice"]
FINAL = ("completed", "busy", "failed", "no-answer", "canceled")


def _params(data: dict[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (data or {}).items()}


def _call(
    services: Services, session: AsyncSession, params: dict[str, str], state: CallState
) -> voice_flow.Call:
    sid = voice_params.call_sid(params)
    sent_from, to = voice_params.numbers(params)
    try:  # withheld numbers arrive as "anonymous" or junk: such a caller has no account
        phone = normalise_phone(sent_from, services.runtime.settings.default_region)
    except InvalidPhone:
        phone = ""
    return voice_flow.Call(
        services=services, session=session, call_sid=sid, phone=phone, to=to, state=state
    )


def _left_ivr(sid: str, step: str, left: voice_flow.LeftIvr) -> Response[str]:
    """A webhook of the menu for a call already handed to a queue: nothing is counted,
    stored or told. The answer is the same <Enqueue>: Twilio runs an answer only on the call
    that asked, and a call waiting in <Enqueue> asks for no menu step, so the one request
    whose answer runs is a retry of the step that enqueued (its first answer lost), which
    must keep the caller in the queue; an empty <Response/> or a <Hangup/> would drop a
    caller the record counts as waiting. A replay or forgery gets an answer nobody runs."""
    log.info("voice step after the hand-off ignored", call_sid=sid, step=step)
    r = Plan()
    r.enqueue(left.queue)
    return Response(r.render(), media_type=TWIML, status_code=200)


async def _answer(
    request: Req,
    services: Services,
    session: AsyncSession,
    c: voice_flow.Call,
    r: Plan,
    before: dict[str, Any] | None = None,
) -> Response[str]:
    await commit(session)  # the record first: the state must not run ahead of it
    if before is None or dataclasses.asdict(c.state) != before:  # a repeated prompt: no write
        await services.call_states.save(c.call_sid, c.state)
    if r.enqueued:  # the caller joined a skill queue: the wallboards count them
        await tell_wallboard(request, services.runtime, c.call_sid, "enqueued")
    return Response(r.render(), media_type=TWIML, status_code=200)


@post(
    "/v1/voice/incoming",
    tags=T,
    status_code=200,
    media_type=TWIML,
    summary="A call comes in (Twilio-compatible voice webhook): TwiML with the language "
    "choice or, for a known number, the menu in the customer's language",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def voice_incoming(
    request: Req, services: ServicesDep, session: SessionDep, data: URLEncodedBody[dict[str, str]]
) -> Response[str]:
    params = _params(data)
    check_signature(services.runtime, request, params)
    c = _call(services, session, params, CallState())
    try:
        r = await voice_flow.incoming(c)
    except voice_flow.LeftIvr as left:  # the provider's first webhook again
        return _left_ivr(c.call_sid, "incoming", left)
    CALLS.inc()
    log.info("voice call", call_sid=c.call_sid, known=c.state.customer_id is not None)
    return await _answer(request, services, session, c, r)


@post(
    "/v1/voice/gather/{step:str}",
    tags=T,
    status_code=200,
    media_type=TWIML,
    summary="A <Gather> action (language, menu, pin, pay): the keys pressed in `Digits`, "
    "none after a timeout; TwiML with the next prompt, a <Redirect> or an <Enqueue>",
    opt={"problems": {**SIGNED, 404: "no such step"}, "accepts": FORM},
)
async def voice_gather(
    request: Req,
    step: FromPath[str],
    services: ServicesDep,
    session: SessionDep,
    data: URLEncodedBody[dict[str, str]],
) -> Response[str]:
    params = _params(data)
    check_signature(services.runtime, request, params)
    if step not in voice_flow.STEPS:
        raise NotFound("no such menu step")
    sid = voice_params.call_sid(params)
    state = await services.call_states.load(sid)
    c = _call(services, session, params, state or CallState())
    before = None
    try:
        if state is None:  # expired or lost (Redis flushed): start this caller's menu over
            r = await voice_flow.incoming(c)
        else:
            before = dataclasses.asdict(state)
            r = await voice_flow.on_gather(c, step, voice_params.keys(params, sid, step))
    except voice_flow.LeftIvr as left:
        return _left_ivr(sid, step, left)
    log.debug("voice step", call_sid=sid, step=step, at=c.state.path[-1:] or None)
    return await _answer(request, services, session, c, r, before)


@post(
    "/v1/voice/status",
    tags=T,
    status_code=204,
    summary="The call's status callback: a final CallStatus (completed, busy, failed, "
    "no-answer, canceled) ends its record, also mid-menu; other statuses are acknowledged",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def voice_status(
    request: Req, services: ServicesDep, session: SessionDep, data: URLEncodedBody[dict[str, str]]
) -> None:
    params = _params(data)
    check_signature(services.runtime, request, params)
    sid = voice_params.call_sid(params)
    status = params.get("CallStatus", "").strip().lower()
    if status not in FINAL:
        return None
    state = await services.call_states.pop(sid)  # the call is over: its state goes
    ending: dict[str, Any] = {
        "provider_status": status,
        "duration_seconds": voice_params.duration(params),
        "now": services.runtime.clock.now(),
        "self_served": bool(state and any(p.startswith("done:") for p in state.path)),
    }
    pool = services.runtime.drivers  # one statement, the record only (ticketing/calls_pg.py)
    if pool is not None:
        async with pool.connection() as conn:
            outcome = await ticketing.end_call_on(conn, sid, **ending)
    else:
        outcome = await ticketing.end_call(session, sid, **ending)
    if outcome is not None:
        ENDED.labels(outcome).inc()
    if outcome in ("abandoned", "handled"):  # it had been queued: the wallboards re-count
        await commit(session)
        await tell_wallboard(request, services.runtime, sid, "ended")
    log.info("voice call ended", call_sid=sid, status=status, outcome=outcome)
    return None


ROUTES: list[Any] = [voice_incoming, voice_gather, voice_status]
