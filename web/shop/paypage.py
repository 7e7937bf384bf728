"""The pay page behind a pay link (/pay/{token}), for a link opened from the SMS and for the
shop's "pay by card" alike: the order's lines and fees, the amount, the hold's countdown, the
customer's language, Stripe's own card Element (card data goes from the browser to Stripe.js
only; the server sees a PaymentMethod id) with 3-D Secure, and plain outcomes for a decline
and a lapsed hold. api.controllers.payments reads the payment and asks this module for the
page; the JSON steps (/charge, /confirm) stay there."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request
from litestar.response import Template

from core.errors import DomainError
from web.shop.errors import ADVICE, FALLBACK
from web.shop.render import shop_page

Req = Request[Any, Any, Any]


def _left(deadline: datetime, now: datetime) -> str:
    secs = max(0, int((deadline - now).total_seconds()))
    return f"{secs // 60}:{secs % 60:02d}"


def pay_page(
    request: Req,
    *,
    token: str,
    payment: Any,
    order: Any,
    now: datetime,
    status: str,
    unpayable: str | None = None,
    setup_secret: str | None = None,
    js_url: str = "",
    publishable_key: str = "",
    demo: bool = False,
    status_code: int = 200,
) -> Template:
    """`status`: the payment's status, or `not_payable` (cancelled or lapsed: no card box)."""
    config = {
        "publishable_key": publishable_key,
        "setup_secret": setup_secret,
        "status": status,
        "base": f"/pay/{token}",
    }
    response = shop_page(
        request,
        "pay.html",
        status_code=status_code,
        payment=payment,
        order=order,
        status=status,
        unpayable=unpayable,
        config=config,
        js_url=js_url,
        demo=demo,
        holding=status == "pending" and order.hold_expires_at > now,
        deadline=order.hold_expires_at,
        left=_left(order.hold_expires_at, now),
        path=f"/pay/{token}",
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def pay_link_problem(request: Req, exc: DomainError) -> Template:
    """An unknown or lapsed link: a page saying what to do, not problem+json."""
    what, step = ADVICE.get(exc.slug, FALLBACK)
    response = shop_page(
        request, "error.html", status_code=exc.status, slug=exc.slug, what=what, step=step
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
