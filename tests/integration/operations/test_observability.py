"""Request id on every response and log line, one access log line per request, HTTP metrics
by route template on /metrics, and third-party logs as JSON lines in production."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from litestar import get
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.logging import THIRD_PARTY, configure_logging, route_stdlib_logs
from core.settings import Settings
from tests.conftest import make_test_settings

HEX_ID = re.compile(r"[0-9a-f]{32}")


@get("/test-only/logs-a-line", include_in_schema=False)
async def logs_a_line() -> dict[str, str]:
    structlog.get_logger("hotline.test").warning("inside the handler")
    return {"status": "ok"}


@pytest.fixture
def captured(settings: Settings) -> Iterator[list[dict[str, Any]]]:
    """Every structlog event at info and above, with the context merged in."""
    events: list[dict[str, Any]] = []

    def keep(_: Any, method: str, event: dict[str, Any]) -> Any:
        events.append({**event, "level": method})
        raise structlog.DropEvent

    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        cache_logger_on_first_use=False,
    )
    yield events
    configure_logging(settings)


@pytest.fixture
async def observed(pg_url: str) -> AsyncIterator[Any]:
    app = create_app(make_test_settings(pg_url), extra_routes=[logs_a_line])
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client


async def test_request_id_is_echoed_on_every_response(observed: Any) -> None:
    sent = f"call-{secrets.token_hex(4)}"
    for method, path, status in [
        ("GET", "/health", 200),
        ("GET", "/no/such/path", 404),
        ("GET", "/v1/me", 401),  # a problem+json from a guard
        ("POST", "/v1/auth/token", 422),  # no body: a validation problem
    ]:
        r = await observed.request(method, path, headers={"X-Request-ID": sent})
        assert r.status_code // 100 == status // 100, (path, r.text)
        assert r.headers["x-request-id"] == sent
    fresh = await observed.get("/health")
    assert HEX_ID.fullmatch(fresh.headers["x-request-id"])
    for insane in [
        "has space",
        "x" * 129,
        'quote"d',
        "-leading-dash",
        "semi;colon",
        "ünïcode".encode(),
    ]:
        r = await observed.get("/health", headers={"X-Request-ID": insane})
        assert HEX_ID.fullmatch(r.headers["x-request-id"]), insane


async def test_request_id_is_on_every_log_line_and_one_access_line(
    observed: Any, captured: list[dict[str, Any]]
) -> None:
    r = await observed.get("/test-only/logs-a-line", headers={"X-Request-ID": "trace-42"})
    assert r.status_code == 200
    inside = [e for e in captured if e["event"] == "inside the handler"]
    access = [e for e in captured if e["event"] == "request"]
    assert [e["request_id"] for e in inside] == ["trace-42"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "trace-42" and line["level"] == "info"
    assert line["method"] == "GET" and line["route"] == "/test-only/logs-a-line"
    assert line["status"] == 200 and line["duration_ms"] >= 0 and line["client"]
    captured.clear()
    await observed.get("/after")  # the id does not leak into the next request
    assert [e["request_id"] != "trace-42" for e in captured] == [True]


def _sample(metrics: str, name: str, **labels: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_and_time_by_route_template(observed: Any) -> None:
    route = "/v1/offers/{offer_id}"
    before = (await observed.get("/metrics")).text
    ids = [secrets.token_hex(16) for _ in range(3)]
    for offer_id in ids:
        assert (await observed.get(f"/v1/offers/{offer_id}")).status_code == 404
    await observed.get(f"/nowhere/{ids[0]}")
    after = (await observed.get("/metrics")).text
    count = "hotline_http_requests_total"
    labels = {"method": "GET", "route": route, "status": "404"}
    assert _sample(after, count, **labels) - _sample(before, count, **labels) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _sample(after, count, **unmatched) - _sample(before, count, **unmatched) == 1
    seconds = "hotline_http_request_duration_seconds_count"
    timed = {"method": "GET", "route": route}
    assert _sample(after, seconds, **timed) - _sample(before, seconds, **timed) == 3
    assert not any(i in after for i in ids)  # raw paths never become labels


@pytest.fixture
def restore_stdlib_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    libs = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in THIRD_PARTY
    }
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, level) in libs.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).setLevel(level)


def test_third_party_logs_are_json_lines_with_the_request_id(
    restore_stdlib_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    route_stdlib_logs(structlog.processors.JSONRenderer())
    tokens = structlog.contextvars.bind_contextvars(request_id="req-7")
    try:
        logging.getLogger("sqlalchemy.pool").warning("pool %s exhausted", "main")
        logging.getLogger("dramatiq.worker").error("worker died")
        logging.getLogger("uvicorn.error").warning("started")  # uvicorn runs at warning
        logging.getLogger("httpx").info("HTTP Request: GET https://api.stripe.com/v1/x 200")
        logging.getLogger("stripe").info("message='Request to Stripe api'")
        logging.getLogger("httpx").warning("a client's warning still shows")
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    by_logger = {line["logger"]: line for line in lines}
    assert by_logger["sqlalchemy.pool"]["event"] == "pool main exhausted"
    assert by_logger["sqlalchemy.pool"]["level"] == "warning"
    assert by_logger["dramatiq.worker"]["level"] == "error"
    assert by_logger["uvicorn.error"]["event"] == "started"
    assert "stripe" not in by_logger  # one line per call to Stripe or a partner: not logged
    assert by_logger["httpx"]["event"] == "a client's warning still shows"
    assert all(line["request_id"] == "req-7" and "timestamp" in line for line in lines)
