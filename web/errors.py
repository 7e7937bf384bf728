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
from web.sessions import RETRY_AFTER_SECONDS, SessionStoreDown, store_down
from web.words import N_, TOO_LARGE, field_errors, http_slug

log = structlog.get_logger("hotline.web")
Req = Request[Any, Any, Any]

# slug -> (what happened, what to do next); msgids translated by the catalogues
ADVICE: dict[str, tuple[str, str]] = {
    "sold-out": (
        N_("Sold out: not enough seats are left on this offer."),
        N_("Offer another date or a smaller quantity."),
    ),
    "verification-required": (
        N_("The caller's PIN check has expired or was not done."),
        N_("Ask the caller for their PIN again."),
    ),
    "caller-pin-wrong": (N_("The PIN is not right."), N_("Ask the caller to read it again.")),
    "insufficient-credit": (
        N_("The phone account's balance and credit do not cover this order."),
        N_("Send a pay link by SMS instead."),
    ),
    "card-declined": (N_("The card was declined."), N_("Ask the caller to try another card.")),
    "order-not-payable": (
        N_("The order was cancelled or its hold expired; it cannot be paid."),
        N_("Place the order again."),
    ),
    "already-paid": (N_("The order is already paid."), N_("Nothing more to charge.")),
    "throttled": (N_("Too many attempts."), N_("Wait a minute, then try again.")),
    "account-locked": (
        N_("The account is locked after too many wrong PINs."),
        N_("The customer can reset the PIN by SMS."),
    ),
    "validation-error": (N_("Something in the form is not right."), N_("Correct the field named.")),
    "not-found": (N_("Not found."), N_("Check the number and search again.")),
    "forbidden": (N_("Your role does not allow this."), N_("Ask a supervisor.")),
    "invalid-transition": (
        N_("That step is not possible in the current state."),
        N_("Reload to see the current state."),
    ),
    "busy": (N_("Busy right now."), N_("Try again in a moment.")),
    "csrf": (
        N_("This form is stale or came from another site."),
        N_("Reload the page and try again."),
    ),
    "sessions-down": (N_("Sign-in is unavailable for a moment."), N_("Try again in a moment.")),
    "too-large": TOO_LARGE,
}


FALLBACK = (N_("Something went wrong."), N_("Try again; if it persists, tell a supervisor."))


def _render(
    request: Req,
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[Any]:
    """The advice for `slug`, and each field a 422 names with its label and message in the
    page's language (the shop's words, web/words.py) in place of the English detail."""
    what, step = ADVICE.get(slug, FALLBACK)
    name = (
        "console/partials/problem.html"
        if request.headers.get("hx-request") == "true"
        else "console/error.html"
    )
    values = {"slug": slug, "what": what, "step": step, "detail": detail}
    fields = field_errors(errors)
    return page(request, name, status_code=status, headers=headers, fields=fields, **values)


def domain_error_page(request: Req, exc: DomainError) -> Response[Any]:
    return _render(request, exc.status, exc.slug, exc.detail, errors=exc.errors)


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
    slug = http_slug(exc.status_code)
    detail = "" if slug in ("too-large", "error") else exc.detail  # Litestar's words, or none
    return _render(request, exc.status_code, slug, detail)


def unexpected_page(request: Req, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on a page", path=request.url.path, error=type(exc).__name__)
    return _render(request, 500, "error", "")


def sessions_down_page(request: Req, exc: SessionStoreDown) -> Response[Any]:
    store_down(request, exc)
    retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return _render(request, 503, "sessions-down", "", headers=retry)
