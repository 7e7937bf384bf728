"""Templates and the one way to answer with a page: Jinja2 through Litestar's template
engine, each page a template extending one layout, each live or swapped part a partial.

Every render gets the request's language (`_`, `fmt` for money and times in the business
zone), the signed-in person (`me`) and the CSRF token that forms and htmx requests send back.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, nodes, pass_context, select_autoescape
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import Context
from litestar import MediaType, Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from core.settings import Settings
from web.i18n import LANG_COOKIE, Formats, pick
from web.sessions import CSRF_HEADER, PRE_CSRF_COOKIE

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
VENDOR = "/static/vendor"  # htmx and its SSE extension (scripts/vendor_assets.py)
Req = Request[Any, Any, Any]


class _Compiler(CodeGenerator):
    """Jinja's compiler, but `_("...")` and `fmt.when(...)`-style calls go straight to the
    function.

    Jinja sends every call in a template through Context.call, which looks for pass_context
    markers on the callable (and its __call__) each time: ~1.2 us a call on this machine, and
    the caller's record asks `_` for ~100 words, a third of its render (bench/console.py).
    `_` and `fmt` are always `Formats.gettext` and a `Formats` (`context` below), whose methods
    take no context, so the direct call does what Context.call would; other calls, and these
    with * or ** arguments, compile as before. tests/unit/test_web_pages.py renders the
    templates both ways and compares."""

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        callee = node.node
        direct = (
            (
                (isinstance(callee, nodes.Name) and callee.name == "_")
                or (
                    isinstance(callee, nodes.Getattr)
                    and isinstance(callee.node, nodes.Name)
                    and callee.node.name == "fmt"
                )
            )
            and not forward_caller
            and node.dyn_args is None
            and node.dyn_kwargs is None
            and not self.environment.is_async
            and not self.environment.sandboxed
        )
        if not direct:
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        self.write("(")
        self.visit(node.node, frame)
        self.write(")(")
        for i, arg in enumerate([*node.args, *node.kwargs]):
            if i:
                self.write(", ")
            self.visit(arg, frame)
        self.write(")")


def environment(*, auto_reload: bool = True, direct_words: bool = True) -> Environment:
    """The pages' Jinja environment; `direct_words=False` compiles `_()` as plain Jinja does
    (the reference the faster one is tested against)."""
    env = Environment(
        auto_reload=auto_reload,
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        enable_async=False,
    )
    if direct_words:
        env.code_generator_class = _Compiler
    env.globals["VENDOR"] = VENDOR
    env.filters.update(word=_word, when=_when, money=_money, iso=datetime.isoformat)
    return env


# The same as `_(word)`, `fmt.when(at)` and `fmt.money(amount, currency)`, for rows of a list
# (the shop's offer cards): Jinja sends every call in a template through Context.call, which
# looks for pass_context markers on each callable every time: with five calls a card it was
# a third of the offer list's render (bench/shop.py). A filter is called directly.
@pass_context
def _word(ctx: Context, word: str) -> str:
    fmt: Formats = ctx["fmt"]
    return fmt.gettext(word)


@pass_context
def _when(ctx: Context, at: datetime | str | None, style: str = "short") -> str:
    fmt: Formats = ctx["fmt"]
    return fmt.when(at, style)


@pass_context
def _money(ctx: Context, amount: int, currency: str) -> str:
    fmt: Formats = ctx["fmt"]
    return fmt.money(amount, currency)


def template_config(settings: Settings) -> TemplateConfig[JinjaTemplateEngine]:
    # compiled templates stay cached either way; in production no page checks its files'
    # modification times (a stat per template and include on every render)
    env = environment(auto_reload=not settings.is_production)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def formats(request: Req) -> Formats:
    settings: Settings = request.app.state.runtime.settings
    lang = pick(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return Formats(lang, settings.zone)


def csrf_token(request: Req) -> str:
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get("csrf"):
        return str(session["csrf"])
    return str(request.scope.get("state", {}).get(PRE_CSRF_COOKIE, ""))


def context(request: Req, **values: Any) -> dict[str, Any]:
    fmt = formats(request)
    settings: Settings = request.app.state.runtime.settings
    return {
        "_": fmt.gettext,
        "fmt": fmt,
        "lang": fmt.lang,
        "zone": settings.timezone,
        "csrf": csrf_token(request),
        "csrf_header": CSRF_HEADER,
        "me": request.scope.get("state", {}).get("hotline_web_agent"),
        "path": request.url.path,
        "is_htmx": request.headers.get("hx-request") == "true",
        **values,
    }


def page(
    request: Req,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> Template:
    return Template(
        template_name=template,
        context=context(request, **values),
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def fragment(request: Req, name: str, **values: Any) -> str:
    """A partial rendered to a string (an SSE event's data)."""
    engine = request.app.template_engine
    assert isinstance(engine, JinjaTemplateEngine)
    return engine.get_template(name).render(**context(request, **values))
