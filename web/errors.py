"""Errors on the pages are pages a person can act on: what happened, in their language, and
the next step. The JSON API keeps its problem+json (api/problems.py); these handlers are
registered on the console router only, for the same exception types as the app's.

A full navigation gets a page; an htmx request gets the message where its result would have
gone (htmx swaps 4xx answers, see the `htmx-config` meta in the layout). No session or a
lapsed one sends the person to sign in and back."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException

from core.errors import DomainError
from web.access import CsrfRefused, SignInRequired
from web.pages import page
from web.replies import go

log = structlog.get_logger("hotline.web")
Req = Request[Any, Any, Any]

# slug -> (what happened, what to do next); msgids translated by the catalogues
ADVICE: dict[str, tuple[str, str]] = {
    "sold-out": ("Sold out: not enough seats are left on this offer.",
                 "Offer another date or a smaller quantity."),
    "verification-required": ("The caller's PIN check has expired or was not done.",
                              "Ask the caller for their PIN again."),
    "caller-pin-wrong": ("The PIN is not right.", "Ask the caller to read it again."),
    "insufficient-credit": ("The phone account's balance and credit do not cover this order.",
                            "Send a pay link by SMS instead."),
    "card-declined": ("The card was declined.", "Ask the caller to try another card."),
    "order-not-payable": ("The order was cancelled or its hold expired; it cannot be paid.",
                          "Place the order again."),
    "already-paid": ("The order is already paid.", "Nothing more to charge."),
    "throttled": ("Too many attempts.", "Wait a minute, then try again."),
    "account-locked": ("The account is locked after too many wrong PINs.",
                       "The customer can reset the PIN by SMS."),
    "validation-error": ("Something in the form is not right.", "Correct the field named."),
    "not-found": ("Not found.", "Check the number and search again."),
    "forbidden": ("Your role does not allow this.", "Ask a supervisor."),
    "invalid-transition": ("That step is not possible in the current state.",
                           "Reload to see the current state."),
    "busy": ("Busy right now.", "Try again in a moment."),
    "csrf": ("This form is stale or came from another site.", "Reload the page and try again."),
}


def _render(request: Req, status: int, slug: str, detail: str) -> Response[Any]:
    what, step = ADVICE.get(slug, ("Something went wrong.", "Try again; if it persists, tell a supervisor."))
    name = "console/partials/problem.html" if request.headers.get("hx-request") == "true" \
        else "console/error.html"
    return page(request, name, status_code=status, slug=slug, what=what, step=step, detail=detail)  # type: ignore[return-value]


def domain_error_page(request: Req, exc: DomainError) -> Response[Any]:
    return _render(request, exc.status, exc.slug, exc.detail)


def http_error_page(request: Req, exc: HTTPException) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return go(request, f"/console/sign-in?next={quote(target)}")
    if isinstance(exc, CsrfRefused):
        return _render(request, 403, "csrf", exc.detail)
    if isinstance(exc, NotAuthorizedException):
        return go(request, "/console/sign-in")
    if isinstance(exc, PermissionDeniedException):
        return _render(request, 403, "forbidden", exc.detail)
    status = exc.status_code
    slug = {404: "not-found", 429: "throttled"}.get(status, "validation-error" if status < 500 else "error")
    return _render(request, status, slug, exc.detail if status < 500 else "")


def unexpected_page(request: Req, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on a page", path=request.url.path, error=type(exc).__name__)
    return _render(request, 500, "error", "")
