"""One guard for what every route receives, run after the route's guards and before its
parameters are parsed (Litestar's `before_request`):

- a NUL character in a query parameter, a path parameter, any string of a JSON body or a
  field of a form post is 422 naming the field (PostgreSQL refuses 0x00 in text; core/text.py);
- a body sent as anything but JSON (`application/json`, `application/*+json`, or no
  Content-Type at all) is 415, except on routes that say what else they take:
  `opt={"accepts": ("application/x-www-form-urlencoded",)}` (Twilio's form posts) or
  `opt={"raw_body": True}` (signed webhooks that read their own bytes).

Cheap on the hot path: a GET without `%00` in its query string costs two comparisons; a JSON
body is searched for the `\\u0000` escape (the only way JSON carries a NUL) and decoded a
second time only when it has one. JSON nested too deep for the decoder is 400
(`HotlineRequest`, and `api.idempotency.strict_body` for the bodies it decodes itself).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, HTTPException

from core.errors import TOO_DEEP, ValidationFailed
from core.text import NUL, NUL_MESSAGE, nul_path

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
FORM = "application/x-www-form-urlencoded"


def is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


def _refuse(field: str, where: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {NUL_MESSAGE}", errors=[{"field": field, "message": NUL_MESSAGE, "in": where}]
    )


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
    if content_type and not is_json(content_type):
        main = content_type.split(";", 1)[0].strip().lower()
        if opt.get("raw_body"):
            return
        if main in opt.get("accepts", ()):
            if main == FORM:
                _guard_form(await request.body())
            return
        if await request.body():
            raise HTTPException(
                status_code=415,
                detail=f"send the body as application/json, not {main}",
                headers={"Accept-Post": "application/json"},
            )
        return
    raw = await request.body()
    if b"\\u0000" in raw:
        try:
            decoded = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return  # malformed: the route's own decoding says so (400)
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
        field = nul_path(decoded)
        if field is not None:
            raise _refuse(field, "body")


def _guard_form(raw: bytes) -> None:
    """A form post (Twilio's webhooks) carries a NUL as `%00`: refused like a JSON string."""
    if b"%00" not in raw and b"\x00" not in raw:
        return
    for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if NUL in key or NUL in value:
            raise _refuse(key, "body")


class HotlineRequest(Request[Any, Any, Any]):
    """Litestar's request, with JSON too deep for the decoder answered 400 instead of 500."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException(TOO_DEEP) from None
