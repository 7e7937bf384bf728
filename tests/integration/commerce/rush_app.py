"""The real app for the multi-process rush tests, with a smaller connection pool per process:
PostgreSQL here allows 100 connections, shared with every other test run on the machine."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app as create_real_app
from core.db import make_engine, make_sessionmaker
from core.runtime import Runtime
from core.settings import load_settings


def create_app() -> Litestar:
    settings = load_settings()
    runtime = Runtime.build(settings)
    runtime.engine = make_engine(settings.database_url, pool_size=6, max_overflow=2)
    runtime.sessions = make_sessionmaker(runtime.engine)
    return create_real_app(settings, runtime=runtime)
