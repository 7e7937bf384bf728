"""The SMS channel (docs/http-api.md, SMS): Twilio-compatible inbound webhook and delivery status.

Both routes check `X-Twilio-Signature` with twilio's RequestValidator against
HOTLINE_TWILIO_AUTH_TOKEN and the URL the gateway was given (HOTLINE_PUBLIC_BASE_URL plus the
path: behind a proxy the Host header is not what Twilio signed). An unset token refuses every
request: an unsigned endpoint would let anyone order or complain in a customer's name.
An inbound message is handled by the SMS channel (api.sms_channel), answered once per
MessageSid: the gateway retries a webhook that timed out, and a retry must not book twice.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, urlparse
from xml.sax.saxutils import escape

import structlog
from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    add_port,
    compare,
    get_signature_algorithm,
    remove_port,
)

import auth
from api import sms_channel
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.security import PrincipalDep, customers_and_agents
from core.db import new_id
from core.errors import Forbidden, NotFound
from core.runtime import Runtime
from core.sms import STATUS_PATH
from core.sms_delivery import apply_status

log = structlog.get_logger("hotline.sms")
Req = Request[Any, Any, Any]
T = ["sms"]
TWIML = "application/xml"
# A concatenated SMS carries its part count in one byte (GSM 03.40 UDH), so no real message
# has more than 255 segments; the column is a 32-bit integer.
MAX_SEGMENTS = 255
SIGNED = {403: "X-Twilio-Signature missing or wrong (problem+json)"}
# What Twilio always posts, and all these routes take: form_fields parses any body as a form,
# so api/input_guard.py answers another type (or none) 415 before it is read unguarded.
FORM = ("application/x-www-form-urlencoded",)


def signed_url(runtime: Runtime, request: Req) -> str:
    url = runtime.settings.public_base_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


def check_signature(runtime: Runtime, request: Req, params: dict[str, str]) -> None:
    """RequestValidator.validate's check, one HMAC in the usual case: validate computes the
    signature of the URL both without and with its port (gateways differ) every time; here
    the second is computed only when the first does not match. twilio's own helpers compute
    and compare, with the algorithm X-Twilio-Signature-Settings names."""
    token = runtime.settings.twilio_auth_token
    signature = request.headers.get(SIGNATURE_HEADER, "")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not token or not signature:
        raise Forbidden("X-Twilio-Signature is required")
    validator = RequestValidator(token)
    url = urlparse(signed_url(runtime, request))
    try:
        if not any(
            compare(validator.compute_signature(uri, params, algorithm), signature)
            for uri in (remove_port(url), add_port(url))  # lazily: the second only on a miss
        ):
            raise Forbidden("X-Twilio-Signature does not match this request")
    except ValueError:  # an algorithm twilio does not know (validate says False)
        raise Forbidden("X-Twilio-Signature does not match this request") from None


async def form_fields(request: Req) -> dict[str, str]:
    """The gateway's form, parsed once from the body as Litestar's URLEncodedBody would (UTF-8
    percent-escapes, blank values kept; a repeated field keeps its last value: Twilio sends
    none). Litestar's form machinery (the kwargs model, a dict of lists) cost more than the
    parse on this route, which every text takes."""
    raw = await request.body()
    return dict(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))


def twiml(message: str) -> Response[str]:
    """The reply as TwiML; an empty one (a text we stay silent to) sends nothing."""
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>'
    return Response(body, media_type=TWIML, status_code=200)


@post(
    "/v1/webhooks/sms",
    tags=T,
    status_code=200,
    media_type=TWIML,
    summary="Inbound SMS (Twilio-compatible): the SMS channel's commands (HELP, LIST, INFO, "
    "BOOK, PAY, CARD, STATUS, CANCEL, TICKET, COMPLAIN, 1-5, STOP/START), answered as TwiML. "
    "Answered once per MessageSid: a gateway retry gets the same reply and changes nothing",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def inbound_sms(request: Req, runtime: RuntimeDep, services: ServicesDep) -> Response[str]:
    params = await form_fields(request)
    check_signature(runtime, request, params)
    # A gateway names every message; a post without a name cannot be recognised when retried,
    # so it gets one of its own (answered, stored, never deduplicated).
    sid = (params.get("MessageSid") or params.get("SmsSid") or "")[:64] or "local-" + new_id()
    try:
        num_segments: int | None = int(params.get("NumSegments", ""))
    except ValueError:
        num_segments = None
    if num_segments is not None and not 1 <= num_segments <= MAX_SEGMENTS:
        num_segments = None  # the gateway's count is a note; an impossible one is no count
    sms = sms_channel.InboundSms(
        message_sid=sid,
        sender=params.get("From", "")[:40],
        to=params.get("To", "") or runtime.settings.twilio_from,
        body=params.get("Body", ""),
        num_segments=num_segments,
    )
    reply, _ = await sms_channel.handle(services, sms)
    return twiml(reply)


@post(
    STATUS_PATH,
    tags=T,
    status_code=204,
    summary="SMS delivery status callback (queued, sent, delivered, undelivered, failed); "
    "a status never moves back (delivered stays delivered)",
    opt={"problems": SIGNED, "accepts": FORM},
)
async def sms_status(request: Req, runtime: RuntimeDep, session: SessionDep) -> None:
    params = await form_fields(request)
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


@get(
    "/v1/customers/{customer_id:str}/messages",
    tags=T,
    summary="A customer's SMS conversation, newest first: every text in (PIN masked) and out, "
    "with the parsed command, outcome, linked order or ticket and segments (cursor-paged)",
    guards=[customers_and_agents],
    opt={"problems": {404: "no such customer, or not you"}},
)
async def customer_messages(
    customer_id: FromPath[str],
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, QueryParameter(ge=1, le=100, description="page size")] = 50,
    cursor: Annotated[
        str | None, QueryParameter(description="next_cursor of the previous page")
    ] = None,
) -> sms_channel.MessagePage:
    if principal.is_customer and principal.id != customer_id:
        raise NotFound("no such customer")
    customer = await auth.get_customer(session, customer_id)
    return await sms_channel.conversation(session, customer.phone, limit=limit, cursor=cursor)


ROUTES: list[Any] = [inbound_sms, sms_status, customer_messages]
