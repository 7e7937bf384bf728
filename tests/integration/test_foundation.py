"""The house stands: health, readiness, metrics, problem+json everywhere, OpenAPI, schema."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

import api.model_registry  # noqa: F401
from core.db import Base, make_engine


async def test_health_and_ready(client: Any) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    r = await client.get("/ready")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_the_root_says_where_to_go(client: Any) -> None:
    """`make run` prints http://127.0.0.1:8000; a new user opening it got a bare 404."""
    r = await client.get("/")
    assert r.status_code == 200, r.text
    links = r.json()["links"]
    assert links["docs"] == "/schema" and links["openapi"] == "/schema/openapi.json"
    for path in links.values():
        assert (await client.get(path)).status_code == 200, path
    assert "/" not in (await client.get("/schema/openapi.json")).json()["paths"]
    page = await client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.headers["content-type"].startswith("text/html")
    assert 'href="/console/"' in page.text and 'href="/shop/"' in page.text


async def test_metrics_are_prometheus(client: Any) -> None:
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "python_info" in r.text or "process_" in r.text or "# HELP" in r.text


async def test_unknown_route_is_problem_json(client: Any) -> None:
    r = await client.get("/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["type"].endswith("/not-found") and body["status"] == 404


async def test_wrong_method_is_problem_json(client: Any) -> None:
    r = await client.delete("/health")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/method-not-allowed")


async def test_openapi_documents_errors(client: Any) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/health" in paths
    for path, ops in paths.items():
        for method, op in ops.items():
            assert "500" in op["responses"], f"{method} {path} documents no error response"
            if op.get("requestBody"):
                assert "422" in op["responses"], f"{method} {path} documents no 422"
    guarded = [
        (route.path, method.lower())
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.include_in_schema and handler.guards
        for method in handler.http_methods
    ]
    assert guarded, "the app has guarded routes"
    for path, method in guarded:
        documented = paths[path.replace(":str", "").replace(":int", "")][method]["responses"]
        assert {"401", "403"} <= set(documented), f"{method} {path} omits 401/403"


async def test_models_and_migrations_agree(pg_url: str) -> None:
    engine = make_engine(pg_url)

    def diff(conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, Base.metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await engine.dispose()
    assert differences == [], f"models and migrations differ: {differences}"
