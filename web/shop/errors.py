"""Errors in the shop are pages a customer can act on: what happened in plain words, the next
step, and a way back; never a stack of JSON. The console's handlers speak to agents ("ask the
caller..."); these speak to the customer."""

from __future__ import annotations

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException

from core.errors import DomainError
from web.access import CsrfRefused, SignInRequired
from web.sessions import RETRY_AFTER_SECONDS, SessionStoreDown, store_down
from web.shop.render import see, shop_page, sign_in_url
from web.words import N_, TOO_LARGE, field_errors, http_slug

log = structlog.get_logger("hotline.shop")
Req = Request[Any, Any, Any]

# slug -> (what happened, what to do next); msgids translated by the catalogues
ADVICE: dict[str, tuple[str, str]] = {
    "sold-out": (
        N_("Not enough seats are left for this quantity."),
        N_("Choose fewer seats or another date."),
    ),
    "insufficient-credit": (
        N_("Your phone account's balance and credit do not cover this order."),
        N_("Pay by card instead, or top up and try again."),
    ),
    "card-declined": (N_("The card was declined."), N_("Try another card.")),
    "order-not-payable": (
        N_("This order was cancelled or its hold ran out; it cannot be paid any more."),
        N_("Book again: the seats may still be there."),
    ),
    "pay-link-expired": (
        N_("This pay link has expired: the seats were held for a limited time."),
        N_("Book again: the seats may still be there."),
    ),
    "already-paid": (N_("This order is already paid."), N_("Nothing more to pay.")),
    "throttled": (N_("Too many attempts."), N_("Wait a minute, then try again.")),
    "account-locked": (
        N_("Your account is locked after too many wrong PINs."),
        N_("Reset your PIN with a code by SMS."),
    ),
    "invalid-credentials": (N_("The phone number or PIN is not right."), N_("Try again.")),
    "validation-error": (N_("Something in the form is not right."), N_("Go back and correct it.")),
    "not-found": (N_("We could not find that page."), N_("Check the link, or start again.")),
    "forbidden": (N_("This is not yours to open."), N_("Sign in with your own number.")),
    "invalid-transition": (
        N_("That is no longer possible for this order."),
        N_("Open the order to see where it stands."),
    ),
    "busy": (N_("We are busy right now."), N_("Try again in a moment.")),
    "csrf": (
        N_("This form is stale or came from another site."),
        N_("Go back, reload the page and try again."),
    ),
    "sessions-down": (N_("Sign-in is unavailable for a moment."), N_("Try again in a moment.")),
    "idempotency-conflict": (
        N_("This form was already sent with other choices."),
        N_("Open a fresh form and send it again."),
    ),
    "too-large": TOO_LARGE,
}
FALLBACK = (N_("Something went wrong on our side."), N_("Try again in a moment."))


def render(
    request: Req,
    status: int,
    slug: str,
    detail: str = "",
    *,
    errors: list[dict[str, Any]] | None = None,
    advice: tuple[str, str] | None = None,
    again: str | None = None,
) -> Response[Any]:
    """The page for a problem: its advice (or `advice`), each named field with its message
    in the customer's language, and `again`, a link to a fresh form, when there is one."""
    what, step = advice or ADVICE.get(slug, FALLBACK)
    return shop_page(
        request,
        "error.html",
        status_code=status,
        slug=slug,
        what=what,
        step=step,
        detail=detail,
        fields=field_errors(errors),
        again=again,
    )


def domain_error_page(request: Req, exc: DomainError) -> Response[Any]:
    return render(request, exc.status, exc.slug, exc.detail, errors=exc.errors)


def http_error_page(request: Req, exc: HTTPException) -> Response[Any]:
    if isinstance(exc, SignInRequired):
        return see(sign_in_url(request))
    if isinstance(exc, CsrfRefused):
        return render(request, 403, "csrf")
    if isinstance(exc, NotAuthorizedException):
        return see(sign_in_url(request))
    if isinstance(exc, PermissionDeniedException):
        return render(request, 403, "forbidden")
    slug = http_slug(exc.status_code)
    detail = "" if slug in ("too-large", "error") else exc.detail  # Litestar's words, or none
    return render(request, exc.status_code, slug, detail)


def sessions_down_page(request: Req, exc: SessionStoreDown) -> Response[Any]:
    store_down(request, exc)
    response = render(request, 503, "sessions-down")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def unexpected_page(request: Req, exc: Exception) -> Response[Any]:
    log.exception("unhandled error on a shop page", path=request.url.path, error=type(exc).__name__)
    return render(request, 500, "error")


def handlers(error_types: list[type[BaseException]]) -> dict[Any, Any]:
    """The app's own exception types (and the base ones) answered with the shop's pages."""
    out: dict[Any, Any] = {t: unexpected_page for t in error_types}
    for t in error_types:
        if issubclass(t, DomainError):
            out[t] = domain_error_page
        elif issubclass(t, HTTPException):
            out[t] = http_error_page
    out.update({DomainError: domain_error_page, HTTPException: http_error_page})
    out[SessionStoreDown] = sessions_down_page
    out.setdefault(Exception, unexpected_page)
    return out
