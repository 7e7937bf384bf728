"""Answers shared by the console's handlers: where to go next, for a full page or htmx."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.response import Redirect

Req = Request[Any, Any, Any]


def go(request: Req, url: str) -> Response[Any]:
    """303 to `url`; for an htmx request, the same as an `HX-Redirect` (a full navigation)."""
    if request.headers.get("hx-request") == "true":
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url})
    return Redirect(url, status_code=303)


def safe_next(raw: str | None) -> str:
    """Only a console path: a sign-in link must not bounce to another site."""
    if raw == "/console":
        return "/console/"
    if raw and raw.startswith("/console/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return "/console/"
