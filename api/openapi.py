"""Every route documents its problem+json error responses in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, Tag

from api.input_guard import accepted
from api.openapi_extras import BEARER, SECURITY_SCHEMES, HotlineOperation, operation_id


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


def _needs_token(handler: HTTPRouteHandler) -> bool:
    guarded = any(getattr(layer, "guards", None) for layer in handler.ownership_layers)
    return guarded or "principal" in handler.parsed_fn_signature.parameters


def document_problems(app: Litestar) -> None:
    """Attach the problem responses, the bearer requirement and our operation class (the
    Idempotency-Key header, webhook bodies, examples) to every HTTP handler, once the app is
    built: Litestar writes the document lazily, at the first request for it."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler) or not handler.include_in_schema:
                continue
            handler.operation_class = HotlineOperation
            codes: dict[int, str] = dict(COMMON)
            opt = handler.opt or {}
            if handler.http_methods & {"POST", "PUT", "PATCH"} and not opt.get("raw_body"):
                takes = " or ".join(accepted(opt)) or "JSON"  # api/input_guard.py
                codes[415] = f"The body is not {takes} (problem+json)"
            if _needs_token(handler):
                handler.security = [{BEARER: []}]
                codes.update(GUARDED)
            extra: dict[int, str] = (handler.opt or {}).get("problems", {})
            codes.update(extra)
            existing: dict[int, Any] = dict(handler.responses or {})
            for code, text in codes.items():
                existing.setdefault(code, _spec(text))
            handler.responses = existing


VENDOR = "/static/vendor/swagger-ui"
TAGS = {
    "auth": "Customers (phone + PIN), agents, tokens, caller verification",
    "commerce": "Offers and orders (capacity holds, cancellation)",
    "payments": "Card pay links, carrier billing, refunds, ledger, Stripe webhook",
    "finance": "Reconciliation against Stripe, carrier billing and partners; daily takings",
    "fulfillment": "Delivery partners, shipments, dead letters, partner callbacks",
    "ticketing": "Complaint tickets, SLA clocks, queues, follow-ups, reports",
    "sms": "Inbound SMS and delivery status webhooks (Twilio)",
    "voice": "The IVR: Twilio-compatible voice webhooks answering TwiML",
    "calls": "Call records, screen pop, answer and wrap-up, skill queue figures",
    "operations": "Health, readiness, metrics",
}


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Hotline",
        version="1.0.0",
        description=(
            "Mobile-commerce call center: bookings, payments, fulfillment, complaints. "
            "Errors are RFC 9457 problem+json whose `type` links to `/problems/{slug}`; "
            "the full contract is docs/http-api.md in the repository."
        ),
        path="/schema",
        # Served by the app itself (api/static/vendor, see scripts/vendor_assets.py): the
        # docs page must not be blank offline or behind a firewall.
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{VENDOR}/swagger-ui-bundle.js",
                css_url=f"{VENDOR}/swagger-ui.css",
                standalone_preset_js_url=f"{VENDOR}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{VENDOR}/favicon-32x32.png'>",
            )
        ],
        components=Components(security_schemes=SECURITY_SCHEMES),
        operation_id_creator=operation_id,
        tags=[Tag(name=name, description=text) for name, text in TAGS.items()],
    )
