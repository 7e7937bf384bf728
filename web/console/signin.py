"""Sign-in and sign-out of the console, and the language switch.

Sign-in calls the same `auth.login_agent` as `POST /v1/auth/agent-token`: the same per
address and per username throttle, the same audit rows, the same answer for an unknown user
and a wrong password. What it hands back is a server-side session, not a token.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery

import auth
from core.errors import DomainError, Throttled
from web.i18n import LANG_COOKIE, LANGUAGES
from web.pages import page
from web.ports import PortsDep, SessionDep
from web.replies import go, safe_next
from web.sessions import PRE_CSRF_COOKIE, check_store, new_csrf_token, rotate_session_id

Req = Request[Any, Any, Any]
PUBLIC = {"public": True}


def _address(request: Req) -> str:
    return request.client.host if request.client else "unknown"


def _form_page(request: Req, *, status_code: int = 200, error: str | None = None, **v: Any) -> Any:
    token = request.cookies.get(PRE_CSRF_COOKIE) or new_csrf_token()
    request.scope.setdefault("state", {})[PRE_CSRF_COOKIE] = token
    response = page(request, "console/sign_in.html", status_code=status_code, error=error, **v)
    response.set_cookie(
        PRE_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        path="/console/",
        secure=request.app.state.runtime.settings.is_production,
    )
    return response


@get("/console/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in_form(request: Req, next: FromQuery[str | None] = None) -> Any:
    return _form_page(request, next=safe_next(next), username="")


@post("/console/sign-in", opt=PUBLIC, include_in_schema=False)
async def sign_in(request: Req, services: PortsDep, session: SessionDep) -> Any:
    form = await request.form()
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = safe_next(form.get("next"))
    await check_store(request)  # no login (audit, counters) whose session cannot be kept
    try:
        agent, _token, _expires = await auth.login_agent(
            services.runtime,
            session,
            username,
            password,
            gate=services.throttle,
            address=_address(request),
        )
    except Throttled as exc:
        return _form_page(
            request,
            status_code=429,
            error="throttled",
            next=target,
            username=username,
            retry=exc.headers.get("Retry-After") if exc.headers else None,
        )
    except DomainError:
        return _form_page(request, status_code=401, error="wrong", next=target, username=username)
    rotate_session_id(request)
    request.set_session(
        {
            "kind": "agent",
            "agent_id": agent.id,
            "name": agent.display_name,
            "roles": sorted(agent.roles),
            "tv": agent.token_version,
            "csrf": new_csrf_token(),
            "seen": time.time(),
        }
    )
    return go(request, target)


@post("/console/sign-out", include_in_schema=False)
async def sign_out(request: Req) -> Any:
    request.clear_session()
    return go(request, "/console/sign-in")


@post("/console/language", opt=PUBLIC, include_in_schema=False)
async def language(request: Req) -> Response[Any]:
    """Remembered for a year in its own cookie: it outlives a sign-out, like a browser's."""
    form = await request.form()
    lang = str(form.get("lang", ""))
    response = go(request, safe_next(form.get("next")))
    if lang in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


ROUTES = [sign_in_form, sign_in, sign_out, language]
