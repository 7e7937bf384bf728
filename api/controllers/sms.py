"""The SMS channel (API.md, SMS): Twilio-compatible inbound webhook and delivery status.

Both routes check `X-Twilio-Signature` with twilio's RequestValidator against
HOTLINE_TWILIO_AUTH_TOKEN and the URL the gateway was given (HOTLINE_PUBLIC_BASE_URL plus the
path: behind a proxy the Host header is not what Twilio signed). An unset token refuses every
request: an unsigned endpoint would let anyone score tickets in a customer's name.
An inbound message is answered once per MessageSid (core.sms_delivery.answer_once): the
gateway retries a webhook that timed out, and a retry must not score a second ticket.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import structlog
from litestar import Request, Response, post
from litestar.params import URLEncodedBody
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

import ticketing
from api.deps import RuntimeDep, SessionDep
from core.errors import Forbidden
from core.phone import InvalidPhone, normalise_phone
from core.runtime import Runtime
from core.sms import STATUS_PATH
from core.sms_delivery import answer_once, apply_status

log = structlog.get_logger("hotline.sms")
Req = Request[Any, Any, Any]
T = ["sms"]
TWIML = "application/xml"
SIGNED = {403: "X-Twilio-Signature missing or wrong (problem+json)"}
FORM = ("application/x-www-form-urlencoded",)  # what Twilio posts (api/input_guard.py)


def signed_url(runtime: Runtime, request: Req) -> str:
    url = runtime.settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


def check_signature(runtime: Runtime, request: Req, params: dict[str, str]) -> None:
    token = runtime.settings.twilio_auth_token
    signature = request.headers.get(SIGNATURE_HEADER, "")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not token or not signature:
        raise Forbidden("X-Twilio-Signature is required")
    if not RequestValidator(token).validate(
        signed_url(runtime, request), params, signature, algorithm
    ):
        raise Forbidden("X-Twilio-Signature does not match this request")


def twiml(message: str) -> Response[str]:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Response><Message>{escape(message)}</Message></Response>"
    )
    return Response(body, media_type=TWIML, status_code=200)


@post(
    "/v1/webhooks/sms",
    tags=T,
    status_code=200,
    media_type=TWIML,
    summary="Inbound SMS (Twilio-compatible): a 1-5 reply scores the resolved ticket; TwiML. "
    "Answered once per MessageSid: a gateway retry gets the same reply and changes nothing",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def inbound_sms(
    request: Req, runtime: RuntimeDep, data: URLEncodedBody[dict[str, str]]
) -> Response[str]:
    params = {str(k): str(v) for k, v in (data or {}).items()}
    check_signature(runtime, request, params)
    phone: str | None
    try:
        phone = normalise_phone(params.get("From", ""), runtime.settings.default_region)
    except InvalidPhone:
        phone = None
    sid = (params.get("MessageSid") or params.get("SmsSid") or "")[:64]
    now = runtime.clock.now()
    scored: list[str | None] = [None]

    async def answer(session: AsyncSession) -> str:
        reply = await ticketing.handle_sms_reply(session, phone, params.get("Body", ""), now=now)
        scored[0] = reply.ticket_id
        return reply.message

    if not sid:  # not from a gateway that names its messages: nothing to recognise a retry by
        async with runtime.sessions() as session, session.begin():
            message, first = await answer(session), True
    else:
        message, first = await answer_once(runtime.sessions, sid, phone, now, answer)
    log.info(
        "sms received",
        message_sid=sid,
        repeated=not first,
        scored=scored[0] is not None,
        ticket_id=scored[0],
    )
    return twiml(message)


@post(
    STATUS_PATH,
    tags=T,
    status_code=204,
    summary="SMS delivery status callback (queued, sent, delivered, undelivered, failed); "
    "a status never moves back (delivered stays delivered)",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def sms_status(
    request: Req, runtime: RuntimeDep, session: SessionDep, data: URLEncodedBody[dict[str, str]]
) -> None:
    params = {str(k): str(v) for k, v in (data or {}).items()}
    check_signature(runtime, request, params)
    sid = (params.get("MessageSid") or params.get("SmsSid") or "")[:64]
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "")[:20]
    if not sid or not status:
        return None
    outcome = await apply_status(session, sid, status, runtime.clock.now())
    log.info(
        "sms status",
        message_sid=sid,
        status=status,
        error_code=params.get("ErrorCode"),
        outcome=outcome,
    )
    return None


ROUTES: list[Any] = [inbound_sms, sms_status]
