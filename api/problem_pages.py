"""A page per problem type: every problem+json `type` (`/problems/{slug}`) resolves here.

The catalogue is built from the error classes themselves (each DomainError subclass names its
status, slug and title) plus the HTTP-level slugs of api/problems.py, so a new error class gets
its page without anyone remembering to write one; NOTES adds what a client should do.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import MediaType, Response, get
from litestar.params import FromPath
from litestar.static_files import create_static_files_router

from api.problems import HTTP_SLUGS, problem
from core.errors import DomainError

STATIC = Path(__file__).resolve().parent / "static"

NOTES = {
    "validation-error": "`errors` lists each offending field (`field`, `message`, `in`). "
    "Fix the request; retrying it unchanged gives the same answer.",
    "internal-error": "Nothing was leaked and the error is logged. A write with an "
    "Idempotency-Key may be retried with the same key.",
    "unauthorized": "Send `Authorization: Bearer <token>`; tokens expire and are revoked "
    "when the PIN or password changes.",
    "invalid-credentials": "Phone and PIN (or username and password) do not match. Repeated "
    "misses slow down and finally lock the number.",
    "locked": "Too many failed PIN attempts: reset the PIN with a one-time SMS code "
    "(POST /v1/auth/enrollment, then /v1/auth/enrollment/confirm).",
    "throttled": "Wait for the seconds in `Retry-After`, then try again.",
    "busy": "Another request holds the resource: retry after `Retry-After` seconds.",
    "sold-out": "Not enough capacity is left on the offer named in the problem.",
    "idempotency-conflict": "The Idempotency-Key was used before with another body: use a new "
    "key for a new request.",
    "idempotency-in-progress": "The first request with this key is still running: retry after "
    "`Retry-After` seconds to get its answer.",
    "insufficient-credit": "The phone account's balance and credit limit do not cover the "
    "amount: top up or pay by card.",
    "card-declined": "The card was refused: try another card.",
    "payment-outcome-unknown": "The gateway did not answer; the payment is checked again "
    "automatically. Do not pay twice: read the order's status.",
    "verification-required": "Agents act for a caller only after POST /v1/callers/verify, "
    "valid 15 minutes.",
    "pay-link-expired": "The order's hold lapsed; place the order again.",
    "no-partner": "No active delivery partner for this method; an administrator adds one, "
    "then replays the dead letter.",
}


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    out: list[type[DomainError]] = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def catalogue() -> dict[str, ProblemType]:
    """Every problem type the app can emit, by slug."""
    found: dict[str, ProblemType] = {}
    classes: list[type[DomainError]] = [DomainError, *_subclasses(DomainError)]
    for cls in classes:
        doc = (cls.__doc__ or "").strip() if cls.__doc__ != DomainError.__doc__ else ""
        found.setdefault(cls.slug, ProblemType(cls.slug, cls.status, cls.title, doc))
    for status, (slug, title) in HTTP_SLUGS.items():
        found.setdefault(slug, ProblemType(slug, status, title, ""))
    found.setdefault("validation-error", ProblemType("validation-error", 422, "Invalid", ""))
    found["internal-error"] = ProblemType("internal-error", 500, "Internal error", "")
    found.setdefault("http-error", ProblemType("http-error", 400, "HTTP error", ""))
    return found


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem}}
code{{background:#eee;padding:0 .2rem}}</style></head><body>
{body}
<p><a href="/problems">All problem types</a> · <a href="/schema">API documentation</a></p>
</body></html>
"""


def _html(title: str, body: str) -> Response[str]:
    return Response(
        _PAGE.format(title=html.escape(title), body=body),
        media_type=MediaType.HTML,
        headers={"Cache-Control": "public, max-age=3600"},
    )


@get("/problems", include_in_schema=False)
async def problem_index() -> Response[str]:
    items = "".join(
        f'<li><a href="/problems/{p.slug}"><code>{p.slug}</code></a> {p.status} '
        f"{html.escape(p.title)}</li>"
        for p in sorted(catalogue().values(), key=lambda p: (p.status, p.slug))
    )
    return _html("Hotline problem types", f"<h1>Problem types</h1><ul>{items}</ul>")


@get("/problems/{slug:str}", include_in_schema=False)
async def problem_page(slug: FromPath[str]) -> Response[Any]:
    found = catalogue().get(slug)
    if found is None:
        return problem(404, "not-found", "Not found", f"no problem type {slug!r}")
    text = " ".join(x for x in (found.description, NOTES.get(slug, "")) if x)
    body = (
        f"<h1>{html.escape(found.title)}</h1>"
        f"<p>HTTP status <strong>{found.status}</strong>, "
        f"type <code>/problems/{html.escape(found.slug)}</code>.</p>"
        f"<p>{html.escape(text or found.title + '.')}</p>"
        "<p>The body is RFC 9457 <code>application/problem+json</code>: <code>type</code>, "
        "<code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>"
        " and, for invalid input, <code>errors</code>.</p>"
    )
    return _html(found.title, body)


ROUTES: list[Any] = [
    problem_index,
    problem_page,
    create_static_files_router(
        path="/static", directories=[STATIC], include_in_schema=False, name="static"
    ),
]
