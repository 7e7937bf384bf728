"""Every route documents its problem+json error responses in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin


class FieldError(msgspec.Struct):
    field: str
    message: str


class ProblemDetail(msgspec.Struct):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


def _spec(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=ProblemDetail,
        media_type="application/problem+json",
        description=description,
        generate_examples=False,
    )


COMMON = {
    400: "Malformed request (problem+json)",
    422: "Validation failed; `errors` names each field (problem+json)",
    500: "Internal error, no details leaked (problem+json)",
}
GUARDED = {
    401: "Missing, expired or invalid token (problem+json)",
    403: "Authenticated but not allowed (problem+json)",
}


def document_problems(app: Litestar) -> None:
    """Attach the problem responses to every HTTP handler, once the app is built."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            codes: dict[int, str] = dict(COMMON)
            opt = handler.opt or {}
            if handler.http_methods & {"POST", "PUT", "PATCH"} and not (
                opt.get("raw_body") or opt.get("accepts")
            ):  # api/input_guard.py
                codes[415] = "The body is not JSON (problem+json)"
            if handler.guards or any(
                g
                for layer in handler.ownership_layers
                for g in (getattr(layer, "guards", None) or [])
            ):
                codes.update(GUARDED)
            extra: dict[int, str] = (handler.opt or {}).get("problems", {})
            codes.update(extra)
            existing: dict[int, Any] = dict(handler.responses or {})
            for code, text in codes.items():
                existing.setdefault(code, _spec(text))
            handler.responses = existing


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Hotline",
        version="1.0.0",
        description="Mobile-commerce call center: bookings, payments, fulfillment, complaints.",
        path="/schema",
        render_plugins=[SwaggerRenderPlugin()],
    )
