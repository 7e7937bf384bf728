"""One guard for what every route receives, run after the route's guards and before its
parameters are parsed (Litestar's `before_request`):

- a NUL character in a query parameter, a path parameter, any string of a JSON body or a
  field of a form post is 422 naming the field (PostgreSQL refuses 0x00 in text; core/text.py);
- a form field whose bytes are not UTF-8 (`note=%FF%FE`) is 422 naming it: Litestar's parser
  would put U+FFFD in each bad byte's place, and that text would be stored as if typed;
- a body sent as anything but JSON (`application/json`, `application/*+json`, or no
  Content-Type at all) is 415, except on routes that say what they take instead:
  `opt={"accepts": ("application/x-www-form-urlencoded",)}` (Twilio's form posts, the pages'
  forms), `("text/csv", ...)` (finance's files) or `opt={"raw_body": True}` (signed webhooks
  that read their own bytes). Such a route takes only what it names: its handler reads the
  body as that whatever the header says, so a JSON or unnamed body would reach it unguarded.

Cheap on the hot path: a GET without `%00` in its query string costs two comparisons; a JSON
body is searched for the `\\u0000` escape (the only way JSON carries a NUL) and decoded a
second time only when it has one. A JSON body the decoder cannot read gets a plain answer
(`HotlineRequest`, and `api.idempotency.strict_body` for the bodies it decodes itself): 400
when nested too deep or not UTF-8, 422 naming the field for a lone surrogate escape.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, HTTPException, SerializationException
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from core.errors import TOO_DEEP, ValidationFailed
from core.text import NUL, NUL_MESSAGE, nul_path, text_path

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
NOT_UTF8 = "the body is not well-formed JSON: not UTF-8"
NOT_UTF8_FIELD = "must be text in UTF-8"
HALF_CHARACTER = "must be text: a lone surrogate escape (\\ud800-\\udfff) is half a character"
FORM = "application/x-www-form-urlencoded"
JSON = ("application/json",)
# RFC 9110 8.3: a body without Content-Type may be taken as bytes. Only finance's file
# imports take those; Twilio always names its form, so a bare body there is refused.
UNNAMED = "application/octet-stream"


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def is_json(content_type: str) -> bool:
    main = media_type(content_type)
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


def accepted(opt: dict[str, Any]) -> tuple[str, ...]:
    """The media types a route names in `opt["accepts"]`; one bare string is one type (`in`
    on a string would match any part of it)."""
    accepts = opt.get("accepts", ())
    return (accepts,) if isinstance(accepts, str) else tuple(accepts)


def _refuse(field: str, where: str, message: str = NUL_MESSAGE) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {message}", errors=[{"field": field, "message": message, "in": where}]
    )


def _unsupported(sent: str, accepts: tuple[str, ...]) -> HTTPException:
    return HTTPException(
        status_code=415,
        detail=f"send the body as {' or '.join(accepts)}, not {sent}",
        headers={"Accept-Post": ", ".join(accepts)},
    )


async def _has_body(request: Request[Any, Any, Any]) -> bool:
    state = ScopeState.from_scope(request.scope)
    if state.body is Empty and state.form is not Empty:
        # A guard read it as a multipart form (the pages' CSRF check looks for `_csrf`): the
        # stream is spent and Litestar keeps no bytes of it to read again.
        return True
    return bool(await request.body())


async def guard_input(request: Request[Any, Any, Any]) -> None:
    scope = request.scope
    query: bytes = scope.get("query_string", b"")
    if query and (b"%00" in query or b"\x00" in query):
        for key, value in request.query_params.items():
            if NUL in key or NUL in value:
                raise _refuse(key, "query")
    if NUL in scope["path"]:
        for key, value in request.path_params.items():
            if isinstance(value, str) and NUL in value:
                raise _refuse(key, "path")
    if scope["method"] not in BODY_METHODS:
        return
    opt = request.route_handler.opt or {}
    content_type = request.headers.get("content-type")
    accepts = accepted(opt)
    if accepts:
        main = media_type(content_type) if content_type else UNNAMED
        if main not in accepts:
            if await _has_body(request):
                raise _unsupported(main if content_type else "without a Content-Type", accepts)
        elif main == FORM:
            _guard_form(await request.body())
        return
    if content_type and not is_json(content_type):
        if not opt.get("raw_body") and await _has_body(request):
            raise _unsupported(media_type(content_type), JSON)
        return
    raw = await request.body()
    if b"\\u0000" in raw:
        try:
            decoded = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return  # unreadable: the route's own decoding says why (400, or 422 naming it)
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
        field = nul_path(decoded)
        if field is not None:
            raise _refuse(field, "body")


def _guard_form(raw: bytes) -> None:
    """A form post (the pages' forms, Twilio's webhooks) carries a NUL as `%00`: refused like a
    JSON string; and bytes that are not UTF-8, refused as the JSON body's are."""
    if b"%00" in raw or b"\x00" in raw:
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if NUL in key or NUL in value:
                raise _refuse(key, "body")
    if raw.isascii() and b"%" not in raw:
        return  # nothing but ASCII, once unquoted too
    try:  # fields are split at ASCII `&` and `=`: the whole is UTF-8 when each field is
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(_not_utf8(raw), "body", NOT_UTF8_FIELD) from None


def _not_utf8(raw: bytes) -> str:
    """The name of the first form field whose name or value is not UTF-8 once unquoted."""
    for pair in raw.split(b"&"):
        key, _, value = pair.partition(b"=")
        name = unquote_to_bytes(key.replace(b"+", b" "))
        try:
            name.decode("utf-8")
            unquote_to_bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return name.decode("utf-8", "replace") or "body"
    return "body"


def _half_character(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def unreadable_json(raw: bytes) -> Exception | None:
    """A plainer answer than msgspec's for two bodies it cannot decode, or None: bytes that are
    not UTF-8 (it raises UnicodeDecodeError, a 500 if let through) and a `\\ud800` escape
    without its pair (it says "Input data was truncated"). Only ever run on a failed decode."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ClientException(f"{NOT_UTF8} (byte {exc.start})")
    if "\\u" not in text:  # a surrogate reaches JSON text only as an escape
        return None
    try:
        decoded = json.loads(text)  # Python's decoder keeps the half character msgspec refuses
    except (ValueError, RecursionError):
        return None
    field = text_path(decoded, _half_character)
    return _refuse(field, "body", HALF_CHARACTER) if field is not None else None


class HotlineRequest(Request[Any, Any, Any]):
    """Litestar's request, with a JSON body it cannot decode answered 400 (or 422 naming the
    field) instead of a 500 or a riddle."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
        except (SerializationException, UnicodeDecodeError) as exc:
            plainer = unreadable_json(await self.body())
            if plainer is None and isinstance(exc, SerializationException):
                raise  # Litestar answers it 400 in the decoder's words
            raise plainer or ClientException(NOT_UTF8) from None
