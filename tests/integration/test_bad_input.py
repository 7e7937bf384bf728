"""Bad input is a clear 4xx naming the field, never a 500 (api/input_guard.py, api/problems.py):
NUL characters anywhere, JSON nested too deep, bodies that are not JSON, query parameters that
do not validate, dates and times outside the years the service takes, and a caller's wrong PIN
that must not look like the agent's failed token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, post
from litestar.exceptions import ClientException
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.idempotency import strict_body
from api.input_guard import FORM, guard_input
from api.migrate import upgrade
from core.clock import TravelClock
from core.paging import encode_cursor
from core.runtime import Runtime
from tests.auth_fixtures import TestAgent, make_agent, random_cn_mobile
from tests.conftest import make_test_settings

PROBLEM = "application/problem+json"


def _problem(r: Any, status: int, slug: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body: dict[str, Any] = r.json()
    assert body["type"].endswith("/" + slug), body
    return body


def _field(body: dict[str, Any]) -> str:
    return str(body["errors"][0]["field"])


# -- NUL ---------------------------------------------------------------------------------------
async def test_nul_in_a_login_body_names_the_field(client: Any) -> None:
    r = await client.post(
        "/v1/auth/agent-token", json={"username": "ana\x00", "password": "x" * 12}
    )
    assert _field(_problem(r, 422, "validation-error")) == "username"


async def test_nul_in_nested_and_listed_strings_names_the_path(client: Any, customer: Any) -> None:
    r = await client.post(
        "/v1/orders",
        json={"items": [{"offer_id": "a\x00b", "quantity": 1}]},
        headers=customer.headers,
    )
    assert _field(_problem(r, 422, "validation-error")) == "items[0].offer_id"
    r = await client.post(
        "/v1/tickets",
        json={"category": "service", "subject": "s\x00", "description": "d"},
        headers=customer.headers,
    )
    assert _field(_problem(r, 422, "validation-error")) == "subject"


async def test_nul_in_names_and_addresses(client: Any, agent: Any, customer: Any) -> None:
    r = await client.post(
        "/v1/customers", json={"phone": "+8613800138000", "name": "王\x00"}, headers=agent.headers
    )
    assert _field(_problem(r, 422, "validation-error")) == "name"
    r = await client.post(
        "/v1/orders",
        json={
            "items": [{"offer_id": "x", "quantity": 1}],
            "delivery": {"method": "courier", "address": "北京\x00"},
        },
        headers=customer.headers,
    )
    assert _field(_problem(r, 422, "validation-error")) == "delivery.address"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/offers", {"q": "a\x00b"}, "q"),
        ("/v1/tickets", {"assignee": "\x00"}, "assignee"),
        ("/v1/tickets", {"queue": "x\x00"}, "queue"),
        ("/v1/finance/ledger.csv", {"from": "2026\x00"}, "from"),
    ],
)
async def test_nul_in_query_parameters(
    client: Any, admin: Any, path: str, params: dict[str, str], field: str
) -> None:
    r = await client.get(path, params=params, headers=admin.headers)
    body = _problem(r, 422, "validation-error")
    assert body["errors"][0] == {
        "field": field,
        "message": body["errors"][0]["message"],
        "in": "query",
    }


async def test_nul_in_a_path_parameter(client: Any) -> None:
    r = await client.get("/v1/offers/ab%00cd")
    body = _problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "offer_id" and body["errors"][0]["in"] == "path"


async def test_an_escaped_backslash_is_not_a_nul(client: Any, customer: Any) -> None:
    r = await client.post(
        "/v1/tickets",
        json={"category": "service", "subject": "\\u0000 is text", "description": "d"},
        headers=customer.headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["subject"] == "\\u0000 is text"


# -- deep JSON ---------------------------------------------------------------------------------
DEEP = b'{"a":' * 1000 + b"1" + b"}" * 1000
DEEP_LIST = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize("raw", [DEEP, DEEP_LIST])
async def test_deep_json_is_400(client: Any, customer: Any, raw: bytes) -> None:
    json_type = {"content-type": "application/json"}
    # decoded by Litestar (a `data` parameter), and by the NUL guard (a NUL escape makes it
    # decode the body); strict_body's typed decoding stops at the first unexpected member
    for path, headers, body in (
        ("/v1/auth/token", {}, raw),
        ("/v1/tickets", customer.headers, raw.replace(b"1", b'"\\u0000"', 1)),
        ("/v1/tickets", customer.headers, raw.replace(b"]", b'"\\u0000"]', 1)),
    ):
        r = await client.post(path, content=body, headers={**headers, **json_type})
        assert "nested too deep" in _problem(r, 400, "bad-request")["detail"], path


async def test_strict_body_answers_deep_json_400() -> None:
    class Raw:
        async def body(self) -> bytes:
            return DEEP_LIST

    with pytest.raises(ClientException, match="nested too deep"):
        await strict_body(Raw(), Any)  # type: ignore[arg-type]


# -- text that is not text --------------------------------------------------------------------
NOT_UTF8 = b'{"category": "service", "subject": "\xff", "description": "d"}'


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/auth/token", b'{"phone": "\xff", "pin": "274915"}'),  # Litestar's decoding
        ("/v1/tickets", NOT_UTF8),  # strict_body's
        ("/v1/tickets", NOT_UTF8.replace(b'"d"', b'"\\u0000"')),  # the NUL guard's
    ],
)
async def test_a_body_that_is_not_utf8_is_400(
    client: Any, customer: Any, path: str, raw: bytes
) -> None:
    headers = {**customer.headers, "content-type": "application/json"}
    r = await client.post(path, content=raw, headers=headers)
    assert "not UTF-8" in _problem(r, 400, "bad-request")["detail"], path


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/v1/auth/token", b'{"phone": "\\ud800", "pin": "274915"}', "phone"),
        ("/v1/tickets", NOT_UTF8.replace(b"\xff", b"a\\udfff"), "subject"),
        ("/v1/orders", b'{"items": [{"offer_id": "\\ud83d", "quantity": 1}]}', "items[0].offer_id"),
    ],
)
async def test_a_lone_surrogate_is_422_naming_the_field(
    client: Any, customer: Any, path: str, raw: bytes, field: str
) -> None:
    """JSON's `\\ud800` escape alone is half a character: no text, and no "truncated" riddle."""
    headers = {**customer.headers, "content-type": "application/json"}
    r = await client.post(path, content=raw, headers=headers)
    body = _problem(r, 422, "validation-error")
    assert _field(body) == field and "surrogate" in body["detail"], body


async def test_strict_body_answers_bytes_that_are_not_utf8_400() -> None:
    class Raw:
        async def body(self) -> bytes:
            return NOT_UTF8

    with pytest.raises(ClientException, match="not UTF-8"):
        await strict_body(Raw(), Any)  # type: ignore[arg-type]


# -- content types -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/x-www-form-urlencoded", b"phone=%2B8613800138000&pin=274915"),
        ("text/plain", b'{"phone": "+8613800138000", "pin": "274915"}'),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
    ],
)
async def test_a_body_that_is_not_json_is_415(client: Any, content_type: str, raw: bytes) -> None:
    r = await client.post("/v1/auth/token", content=raw, headers={"content-type": content_type})
    body = _problem(r, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json", None]
)
async def test_json_and_its_variants_are_accepted(client: Any, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    raw = b'{"phone": "%s", "pin": "0"}' % random_cn_mobile().encode()  # no throttle carry-over
    r = await client.post("/v1/auth/token", content=raw, headers=headers)
    assert r.status_code == 401, r.text  # reached the PIN check


async def test_signed_webhooks_read_their_own_bytes_whatever_the_type(client: Any) -> None:
    for path in ("/v1/webhooks/stripe", "/v1/webhooks/partners/nobody"):
        r = await client.post(path, content=b"x=1", headers={"content-type": "text/plain"})
        assert r.status_code != 415 and r.status_code < 500, (path, r.text)


@pytest.mark.parametrize("content_type", ["application/json", "application/xml"])
async def test_a_csv_route_names_what_it_takes_when_refusing(
    client: Any, finance: Any, content_type: str
) -> None:
    headers = {**finance.headers, "content-type": content_type}
    r = await client.post("/v1/finance/imports/carrier", content=b'{"a": 1}', headers=headers)
    body = _problem(r, 415, "unsupported-media-type")
    assert "text/csv" in body["detail"] and "as application/json" not in body["detail"], body
    assert "text/csv" in r.headers["accept-post"]


async def test_a_route_naming_one_type_as_a_bare_string_takes_that_type_only() -> None:
    """`opt={"accepts": FORM}` is one type, not a string to find the sent type in."""

    @post("/form", opt={"accepts": FORM}, status_code=200)
    async def form_route() -> str:
        return "ok"

    app = Litestar([form_route], before_request=guard_input)
    async with AsyncTestClient(app=app) as c:
        for part in ("application/x-www", "form", "x"):
            r = await c.post("/form", content=b"x=1", headers={"content-type": part})
            assert r.status_code == 415, part
        r = await c.post("/form", content=b"x=1", headers={"content-type": FORM})
        assert r.status_code == 200, r.text


# -- validation is 422 everywhere --------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/offers", {"limit": "x"}, "limit"),
        ("/v1/offers", {"limit": "0"}, "limit"),
        ("/v1/offers", {"on": "yesterday"}, "on"),
        ("/v1/tickets", {"limit": "many"}, "limit"),
        ("/v1/payments/incidents", {"limit": "1000"}, "limit"),
        ("/v1/admin/dead-letters", {"include_replayed": "perhaps"}, "include_replayed"),
    ],
)
async def test_bad_query_parameters_are_422(
    client: Any, admin: Any, path: str, params: dict[str, str], field: str
) -> None:
    r = await client.get(path, params=params, headers=admin.headers)
    body = _problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == field and body["errors"][0]["in"] == "query"


async def test_a_callers_wrong_pin_is_not_401(client: Any, agent: Any, customer: Any) -> None:
    wrong = {"phone": customer.phone, "pin": "000000"}
    r = await client.post("/v1/callers/verify", json=wrong, headers=agent.headers)
    body = _problem(r, 422, "caller-pin-wrong")
    unknown = {"phone": "+8613912345678", "pin": "000000"}
    r = await client.post("/v1/callers/verify", json=unknown, headers=agent.headers)
    assert _problem(r, 422, "caller-pin-wrong")["detail"] == body["detail"]  # no enumeration
    # the agent's own token still works, and the throttle still counts the misses
    assert (await client.get("/v1/me", headers=agent.headers)).status_code == 200
    statuses = []
    for _ in range(4):
        r = await client.post("/v1/callers/verify", json=wrong, headers=agent.headers)
        statuses.append(r.status_code)
    assert statuses[-1] == 429, statuses
    assert "Retry-After" in r.headers


# -- dates outside the years the service takes (core/dates.py) ---------------------------------
FAR_DAYS = ("0001-01-01", "9999-12-31")


@pytest.fixture(params=["postgresql", "sqlite"])
async def anyone(request: pytest.FixtureRequest, client: Any, tmp_path: Path) -> AsyncIterator[Any]:
    """A client signed in as nobody, on PostgreSQL (production) or SQLite (the demo)."""
    if request.param == "postgresql":
        yield client
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}"
    await asyncio.to_thread(upgrade, url)
    app = create_app(make_test_settings(url, redis_url=""), clock=TravelClock())
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


@pytest.mark.parametrize("day", FAR_DAYS)
async def test_a_far_off_date_on_the_public_routes_is_422(anyone: Any, day: str) -> None:
    body = _problem(await anyone.get("/v1/offers", params={"on": day}), 422, "validation-error")
    assert _field(body) == "on"
    page = await anyone.get("/shop/", params={"on": day}, headers={"Accept-Language": "en"})
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert 'data-slug="validation-error"' in page.text and 'href="/shop/"' in page.text
    # what to correct, by the field's label (web/words.py)
    assert "<strong>Date</strong>: must be in the years 2000 to 2100" in page.text
    page = await anyone.get("/shop/", params={"on": day}, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 422
    assert "<strong>日期</strong>：须在 2000 到 2100 年之间" in page.text


FORGED = encode_cursor(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-12))), "x")
OFFER = {"kind": "event", "title": "t", "venue": "v", "price": {"amount": 100}, "capacity": 1}
NOON = "T12:00:00+08:00"


@pytest.fixture
async def staff(request: pytest.FixtureRequest, runtime: Runtime) -> TestAgent:
    return await make_agent(runtime, request.param)  # the role the case names


@pytest.mark.parametrize(
    ("staff", "method", "path", "sent", "field"),
    [
        ("supervisor", "GET", "/v1/call-queues", {"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ("supervisor", "GET", "/v1/call-queues", {"since": "9999-12-31T23:59:59-12:00"}, "since"),
        ("supervisor", "GET", "/v1/reports/tickets", {"from": "0001-01-01T00:00:00+14:00"}, "from"),
        ("supervisor", "GET", "/v1/reports/tickets", {"to": "9999-12-31T23:59:59-12:00"}, "to"),
        (
            "admin",
            "POST",
            "/v1/offers",
            {**OFFER, "starts_at": "9999-12-31T23:59:59-12:00"},
            "starts_at",
        ),
        (
            "admin",
            "POST",
            "/v1/offers",
            {**OFFER, "starts_at": "9999-12-31T00:00:00+14:00"},
            "starts_at",
        ),
        (
            "admin",
            "POST",
            "/v1/offers",
            {**OFFER, "starts_at": "0001-01-01T00:00:00+14:00"},
            "starts_at",
        ),
        (
            "supervisor",
            "PUT",
            "/v1/business-calendars/cal-far",
            {"zone": "Asia/Shanghai", "hours": {"0": [[0, 60]]}, "holidays": ["9999-12-31"]},
            "holidays[0]",
        ),
        (
            "finance",
            "GET",
            "/v1/finance/reports/daily",
            {"from": "0001-01-01", "to": "9999-12-31"},
            "from",
        ),
        (
            "finance",
            "GET",
            "/v1/finance/reports/daily",
            {"from": "2026-12-01", "to": "9999-12-31"},
            "to",
        ),
        (
            "finance",
            "GET",
            "/v1/finance/reports/daily.csv",
            {"from": "0001-01-01", "to": "2026-12-01"},
            "from",
        ),
        (
            "finance",
            "GET",
            "/v1/finance/ledger.csv",
            {"from": "0001-01-01", "to": "9999-12-31"},
            "from",
        ),
        ("finance", "GET", "/v1/finance/ledger.csv", {"to": "9999-12-31"}, "to"),
        ("finance", "GET", "/v1/finance/ledger.csv", {"from": "0001-01-01" + NOON}, "from"),
        ("admin", "GET", "/v1/offers", {"cursor": FORGED}, "cursor"),
        (
            "finance",
            "POST",
            "/v1/finance/reconciliations",
            {"source": "carrier", "from": "0001-01-01", "to": "9999-12-31"},
            "from",
        ),
        (
            "finance",
            "POST",
            "/v1/finance/reconciliations",
            {"source": "carrier", "from": "9999-12-30", "to": "9999-12-31"},
            "from",
        ),
    ],
    indirect=["staff"],
)
async def test_a_far_off_date_or_time_is_422_naming_the_field(
    client: Any, staff: TestAgent, method: str, path: str, sent: dict[str, Any], field: str
) -> None:
    headers = staff.headers
    if method == "GET":
        r = await client.get(path, params=sent, headers=headers)
    else:
        r = await client.request(method, path, json=sent, headers=headers)
    assert _field(_problem(r, 422, "validation-error")) == field
