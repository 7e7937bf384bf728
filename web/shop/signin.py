"""Signing in to the shop with phone and PIN, first-time enrollment and PIN reset by a
one-time SMS code, signing out, and the language switch.

Each calls the auth room's own functions, as the JSON API does (`auth.login_customer`,
`auth.send_code`, `auth.confirm_code`): the same per-address and per-phone throttle, the same
lock after wrong PINs, the same answer for an unknown number and a wrong PIN. What it hands
back is a server-side session (a fresh id), not a token.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery

import auth
from auth import Customer
from core.db import commit
from core.errors import DomainError, Throttled, ValidationFailed
from web.i18n import LANG_COOKIE, LANGUAGES
from web.ports import PortsDep, SessionDep
from web.sessions import check_store, new_csrf_token, rotate_session_id
from web.shop.render import HOME, safe_next, see, shop_page

Req = Request[Any, Any, Any]
PUBLIC = {"public": True}


def _address(request: Req) -> str:
    return request.client.host if request.client else "unknown"


def _problem(exc: DomainError) -> tuple[int, str, str | None]:
    retry = exc.headers.get("Retry-After") if isinstance(exc, Throttled) and exc.headers else None
    slug = exc.slug if exc.slug in ("throttled", "account-locked") else "wrong"
    if isinstance(exc, ValidationFailed):
        field = exc.errors[0].get("field") if exc.errors else None
        slug = "invalid-" + str(field or "input")
    return exc.status, slug, retry


def start_session(request: Req, customer: Customer) -> None:
    rotate_session_id(request)  # no fixation: a new id at every sign-in
    request.set_session(
        {
            "kind": "customer",
            "customer_id": customer.id,
            "phone": customer.phone,
            "tv": customer.token_version,
            "csrf": new_csrf_token(),
            "seen": time.time(),
        }
    )


@get("/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in_form(request: Req, next: FromQuery[str | None] = None) -> Any:
    return shop_page(request, "sign_in.html", next=safe_next(next), phone="")


@post("/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in(request: Req, services: PortsDep, session: SessionDep) -> Any:
    form = await request.form()
    phone, pin = str(form.get("phone", "")).strip(), str(form.get("pin", ""))
    target = safe_next(form.get("next"))
    await check_store(request)  # no login (audit, counters) whose session cannot be kept
    try:
        customer, _token, _expires = await auth.login_customer(
            services.runtime, session, phone, pin, gate=services.throttle, address=_address(request)
        )
    except DomainError as exc:
        status, error, retry = _problem(exc)
        return shop_page(
            request,
            "sign_in.html",
            status_code=status,
            error=error,
            retry=retry,
            next=target,
            phone=phone,
        )
    await commit(session)
    start_session(request, customer)
    return see(target)


@post("/sign-out", include_in_schema=False)
async def sign_out(request: Req) -> Any:
    request.clear_session()
    return see(HOME)


@get("/code", opt=PUBLIC, include_in_schema=False)
async def code_form(request: Req, next: FromQuery[str | None] = None) -> Any:
    """First time here, or the PIN forgotten (or locked): a code by SMS sets a new one."""
    return shop_page(request, "code.html", next=safe_next(next), phone="")


@post("/code", opt=PUBLIC, include_in_schema=False)
async def send_code(request: Req, services: PortsDep, session: SessionDep) -> Any:
    form = await request.form()
    phone = str(form.get("phone", "")).strip()
    target = safe_next(form.get("next"))
    try:
        normal = auth.phone_or_422(services.runtime, phone)
        await auth.send_code(
            services.runtime,
            session,
            normal,
            gate=services.throttle,
            sms=services.sms,
            address=_address(request),
        )
        await commit(session)  # the SMS leaves through the outbox after this commit
    except DomainError as exc:
        status, error, retry = _problem(exc)
        return shop_page(
            request,
            "code.html",
            status_code=status,
            error=error,
            retry=retry,
            next=target,
            phone=phone,
        )
    return shop_page(request, "code_confirm.html", phone=normal, next=target)


@post("/code/confirm", opt=PUBLIC, include_in_schema=False)
async def confirm_code(request: Req, services: PortsDep) -> Any:
    form = await request.form()
    phone, code = str(form.get("phone", "")), str(form.get("code", "")).strip()
    pin, again = str(form.get("pin", "")), str(form.get("pin2", ""))
    target = safe_next(form.get("next"))
    await check_store(request)  # no new PIN set for a sign-in that cannot be kept
    try:
        if pin != again:
            raise ValidationFailed.field("pin2", "the two PINs differ")
        customer = await auth.confirm_code(
            services.runtime, phone, code, pin, gate=services.throttle, address=_address(request)
        )
    except DomainError as exc:
        status, error, retry = _problem(exc)
        return shop_page(
            request,
            "code_confirm.html",
            status_code=status,
            error=error,
            retry=retry,
            phone=phone,
            next=target,
        )
    start_session(request, customer)
    return see(target)


@post("/language", opt=PUBLIC, include_in_schema=False)
async def language(request: Req) -> Response[Any]:
    """Remembered for a year in its own cookie (shared with the console)."""
    form = await request.form()
    lang = str(form.get("lang", ""))
    response = see(safe_next(form.get("next")))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


ROUTES = [sign_in_form, sign_in, sign_out, code_form, send_code, confirm_code, language]
