"""One mapping from every error to RFC 9457 problem+json; no stack trace ever leaves."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)

from core.errors import DomainError

# Relative to the API: each type is a page served by api/problem_pages.py.
PROBLEM_BASE = "/problems/"
PROBLEM_MEDIA = "application/problem+json"
log = structlog.get_logger("hotline.api")

HTTP_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("payload-too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("throttled", "Too many requests"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(content=body, status_code=status, media_type=PROBLEM_MEDIA, headers=headers)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
        instance=request.url.path,
    )


_AT = re.compile(r"- at `\$\.?(?P<path>[^`]*)`")
# msgspec names a missing or unknown member in the message, on the enclosing object's path
_MEMBER = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def _field_errors(exc: ValidationException) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    extra = exc.extra if isinstance(exc.extra, list) else []
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        field = item.get("key")
        m = _AT.search(message)
        if m:
            field = m.group("path") or field
            message = message[: m.start()].strip()
        source = item.get("source")
        named = _MEMBER.match(message)
        if named:
            parent = m.group("path") if m else ""
            field = f"{parent}.{named['name']}" if parent else named["name"]
        elif field == "data" and source in (None, "body"):
            field = None  # Litestar's name for the body parameter, not the client's
        if not field:
            field = "body" if source in (None, "body") else str(source)
        out.append({"field": str(field), "message": message, **({"in": source} if source else {})})
    return out


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = _field_errors(exc)
    if not errors:
        errors = [{"field": "body", "message": exc.detail or "malformed request"}]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(
        422,  # query, path and body alike: the request is well formed, a value is not
        "validation-error",
        "Request is not valid",
        detail,
        errors=errors,
        instance=request.url.path,
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    slug, title = HTTP_SLUGS.get(status, ("http-error", "HTTP error"))
    if isinstance(exc, NotAuthorizedException):
        slug, title = "unauthorized", "Authentication required"
    if isinstance(exc, PermissionDeniedException):
        slug, title = "forbidden", "Not allowed"
    detail = exc.detail if exc.detail and status < 500 else title
    return problem(status, slug, title, detail, headers=exc.headers, instance=request.url.path)


def unexpected_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path, error=type(exc).__name__)
    return problem(
        500,
        "internal-error",
        "Internal error",
        "Something went wrong on our side; it has been logged.",
        instance=request.url.path,
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_handler,
}

# Documented on every route in OpenAPI so clients know the error shape.
MediaType_PROBLEM = MediaType.JSON
