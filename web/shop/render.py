"""The one way a shop handler answers with a page: web.pages.page with the shop's CSRF token
(the session's, or before sign-in a pre-session cookie scoped to /shop/) and the customer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.response import Redirect, Template

from web.pages import page
from web.sessions import PRE_CSRF_COOKIE, new_csrf_token
from web.shop.access import customer_session, shopper

Req = Request[Any, Any, Any]
HOME = "/shop/"


def shop_page(request: Req, template: str, *, status_code: int = 200, **values: Any) -> Template:
    data = customer_session(request)
    fresh = None
    if data is not None:
        token = str(data.get("csrf") or "")
    else:
        token = request.cookies.get(PRE_CSRF_COOKIE) or ""
        if not token:
            token = fresh = new_csrf_token()
    response = page(
        request,
        "shop/" + template,
        status_code=status_code,
        customer=shopper(request),
        csrf=token,
        **values,
    )
    if fresh:
        response.set_cookie(
            PRE_CSRF_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            path="/shop/",
            secure=request.app.state.runtime.settings.is_production,
        )
    return response


def see(url: str) -> Response[Any]:
    """After a form: 303 to the page that shows its result (a reload does not resubmit)."""
    return Redirect(url, status_code=303)


def safe_next(raw: Any) -> str:
    """Only a shop path: a sign-in link must not bounce to another site."""
    text = str(raw or "")
    if text.startswith(("/shop/", "/pay/")) and "\\" not in text:
        return text
    return HOME


def sign_in_url(request: Req) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/shop/sign-in?next={quote(target)}"
