"""structlog configuration: JSON lines in production, readable console otherwise.

In production the standard library's loggers (uvicorn, SQLAlchemy, Dramatiq, Litestar, any
other library) are rendered by structlog's ProcessorFormatter too, so every line on stdout is
one JSON object with the same keys (timestamp, level, logger, event) and, inside a request,
its `request_id` (api/observability.py binds it). Elsewhere they keep Python's defaults (tests
rely on pytest's capture of them)."""

from __future__ import annotations

import logging
import sys

import structlog

from core.settings import Settings

# Libraries whose own handlers would print in their own format; they propagate to the root.
THIRD_PARTY = ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "dramatiq", "litestar")
_OURS = "_hotline_structlog"  # marks the root handler installed here (configure may rerun)


def _shared_processors() -> list[structlog.typing.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(settings: Settings) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if settings.is_production
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.WARNING if settings.env == "test" else logging.INFO
        ),
        cache_logger_on_first_use=True,
    )
    if settings.is_production:
        route_stdlib_logs(structlog.processors.JSONRenderer())
    quiet_chatty_libraries()


def route_stdlib_logs(renderer: structlog.typing.Processor, level: int = logging.INFO) -> None:
    """Send every standard-library log record through structlog's processors and `renderer`
    (one handler on the root logger; the libraries' own handlers are removed)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_shared_processors(), structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in THIRD_PARTY:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    quiet_chatty_libraries()


def quiet_chatty_libraries() -> None:
    """Our access log replaces uvicorn's; SQLAlchemy at info would log every statement, and
    httpx/httpcore and stripe every call to Stripe or a partner (a line per webhook's
    re-fetch, 8% of its handler's time in a profile). Their warnings still log, and our own
    logs and metrics name each call that matters. In every environment: Litestar's logging
    setup puts the root logger at INFO in the demo too."""
    for chatty in ("uvicorn.access", "sqlalchemy", "httpx", "httpcore", "stripe"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
