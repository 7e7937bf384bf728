"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.deps import RuntimeDep
from api.outages import RETRY_AFTER_SECONDS, UNAVAILABLE_SLUG
from api.problems import problem

LINKS = {
    "console": "/console/",  # the agents' and supervisors' pages (web/)
    "shop": "/shop/",  # the customers' web shop (web/)
    "docs": "/schema",
    "openapi": "/schema/openapi.json",
    "problems": "/problems",
    "health": "/health",
    "ready": "/ready",
}
# A person opening `make run`'s printed address in a browser gets links, not JSON.
LANDING = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Hotline</title>'
    "<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}"
    "a{display:block;padding:.6rem 0}</style></head><body><h1>Hotline</h1>"
    '<a href="/console/">Agent console 坐席控制台</a><a href="/shop/">Web shop 网上订票</a>'
    '<a href="/schema">API docs</a></body></html>'
)


@get("/", include_in_schema=False)
async def index(request: Request[Any, Any, Any]) -> Response[Any]:
    """What `make run`'s printed address answers: where the pages and the API's docs are."""
    if "text/html" in request.headers.get("accept", ""):
        return Response(LANDING, media_type=MediaType.HTML)
    return Response({"service": "Hotline", "links": LINKS}, media_type=MediaType.JSON)


@get("/health", media_type=MediaType.JSON, tags=["operations"], summary="Liveness")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get(
    "/ready",
    tags=["operations"],
    summary="Database and Redis reachable",
    opt={"problems": {503: "Not ready"}},
)
async def ready(runtime: RuntimeDep) -> Response[dict[str, Any]]:
    checks: dict[str, str] = {}
    try:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(exc).__name__}"
    if runtime.redis is not None:
        try:
            await runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    else:
        checks["redis"] = "not configured (in-memory)"
    down = [name for name, v in checks.items() if v != "ok" and not v.startswith("not configured")]
    if not down:
        return Response({"status": "ready", "checks": checks}, status_code=200)
    # The same problem type as a request meeting the outage, so a probe and a client read it alike.
    return problem(
        503,
        UNAVAILABLE_SLUG,
        "Not ready",
        f"Unavailable: {', '.join(down)}; retry after the Retry-After seconds.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        extra={"unavailable": down, "checks": checks},
        instance="/ready",
    )


@get("/metrics", tags=["operations"], summary="Prometheus metrics", media_type="text/plain")
async def metrics() -> Response[bytes]:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


ROUTES = [index, health, ready, metrics]
