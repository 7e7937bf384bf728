"""Per request: a request id, one access log line and the HTTP metrics on /metrics.

A pure ASGI wrapper around the whole Litestar handler (not a Litestar middleware, which runs
per route: a 404 or 405 would escape it; not a dependency, which costs the order path a
resolution step). It costs two clock reads, a header scan, one structlog call and two cached
metric children per request (bench/auth.py figures are in the README).

- Request id: a sane `X-Request-ID` from the client is kept (so a call can be followed across
  services), anything else is replaced by a fresh one; it is echoed on every response,
  errors and 404s included, and bound into structlog's context so every log line written while
  serving the request carries `request_id`.
- Access log: `hotline.access` at info: method, route template, status, duration_ms,
  request_id, client.
- Metrics: `hotline_http_requests_total{method,route,status}` and
  `hotline_http_request_duration_seconds{method,route}`. `route` is the route template
  (`/v1/orders/{order_id:str}`), never the raw path, so ids do not multiply the series;
  unmatched paths are one `unmatched` route and unknown methods one `OTHER` method.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

REQUEST_ID_HEADER = b"x-request-id"
# Printable, no spaces or quotes, bounded: it goes into headers and log lines verbatim.
_SANE_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:/+=-]{0,127}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

REQUESTS = Counter(
    "hotline_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
LATENCY = Histogram(
    "hotline_http_request_duration_seconds",
    "Time to serve an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's `X-Request-ID` when it is sane, else a new random one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(16)


class RequestObservability:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.log = structlog.get_logger("hotline.access")
        # (method, route, status) -> (counter child, histogram child): `labels()` takes a lock
        # and builds a key on every call; the set is small and fixed (templates x statuses).
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500  # if nothing is sent, the server answers 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            structlog.contextvars.reset_contextvars(**tokens)

    def _record(self, scope: Any, status: int, seconds: float) -> None:
        """Count, time and log one request (`request_id` comes from the bound context)."""
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = scope.get("path_template") or UNMATCHED
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (REQUESTS.labels(method, route, str(status)), LATENCY.labels(method, route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)
        client = scope.get("client")
        self.log.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 2),
            client=client[0] if client else None,
        )
