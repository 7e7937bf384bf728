"""The OpenAPI document is usable by integrators: a bearer scheme for the docs UI's Authorize
button, typed request bodies, the Idempotency-Key header where it is honoured, tags and
readable operation ids; the docs UI loads only the app's own files, and every problem `type`
resolves to a page of the service."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import AsyncTestClient

from api.openapi_extras import IDEMPOTENT, operation_id
from api.problem_pages import catalogue
from api.problems import PROBLEM_BASE

WRITES = ("post", "put", "patch")
# Writes that read no body at all (their path says everything).
BODYLESS = {"payConfirm", "replayDeadLetter", "markRead", "answerCall"}
MANIFEST = Path(__file__).resolve().parents[2] / "api" / "static" / "vendor" / "MANIFEST.json"


@pytest.fixture(scope="module")
async def doc(client: AsyncTestClient[Litestar]) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in ("get", *WRITES, "delete")
    ]


def test_bearer_scheme_and_guarded_routes_require_it(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
    ops = {op["operationId"]: op for _m, _p, op in _operations(doc)}
    for guarded in ("me", "createPayment", "createRefund", "listTickets", "ledgerCsv"):
        assert ops[guarded].get("security") == [{"bearer": []}], guarded
    for public in ("token", "listOffers", "stripeWebhook", "health"):
        assert not ops[public].get("security"), public


def test_every_write_that_reads_a_body_has_a_typed_request_body(doc: dict[str, Any]) -> None:
    missing = [
        f"{m.upper()} {p}"
        for m, p, op in _operations(doc)
        if m in WRITES
        and op["operationId"] not in BODYLESS
        and not any(c.get("schema") for c in op.get("requestBody", {}).get("content", {}).values())
    ]
    assert missing == []
    ops = {op["operationId"]: op for _m, _p, op in _operations(doc)}
    for name in ("createPayment", "createRefund", "topUp", "stripeWebhook", "partnerCallback"):
        assert ops[name]["requestBody"]["required"] is True, name
    examples = ops["createPayment"]["requestBody"]["content"]["application/json"]["examples"]
    assert examples["example"]["value"] == {"method": "carrier_billing"}


def test_idempotency_key_is_documented_where_it_is_accepted(
    app: Litestar, doc: dict[str, Any]
) -> None:
    accepting = {
        operation_id(handler, None, None)
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if isinstance(handler, HTTPRouteHandler)
        and "idempotent(" in inspect.getsource(handler.fn)  # the helper that honours the key
    }
    assert accepting == set(IDEMPOTENT)
    for _m, _p, op in _operations(doc):
        headers = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "header"}
        name = op["operationId"]
        if name in accepting:
            assert headers["Idempotency-Key"]["required"] is IDEMPOTENT[name], name
        else:
            assert "Idempotency-Key" not in headers, name


def test_every_operation_has_tags_and_a_readable_operation_id(doc: dict[str, Any]) -> None:
    ops = _operations(doc)
    assert len(ops) > 50
    for method, path, op in ops:
        assert op.get("tags"), f"{method} {path}"
        assert re.fullmatch(r"[a-z][A-Za-z]*", op.get("operationId", "")), f"{method} {path}"
    declared = {t["name"] for t in doc["tags"]}
    assert {t for _m, _p, op in ops for t in op["tags"]} <= declared


async def test_docs_ui_loads_only_the_apps_own_files(client: AsyncTestClient[Litestar]) -> None:
    r = await client.get("/schema")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
    assert urls, r.text[:500]
    assert [u for u in urls if not u.startswith("/") or u.startswith("//")] == []
    manifest = json.loads(MANIFEST.read_text())["swagger-ui"]
    for url in urls:
        served = await client.get(url)
        assert served.status_code == 200, url
        name = url.rsplit("/", 1)[1]
        assert hashlib.sha256(served.content).hexdigest() == manifest["files"][name], url


async def test_problem_types_emitted_by_the_app_resolve_to_pages(
    client: AsyncTestClient[Litestar],
) -> None:
    emitted = [
        (await client.get("/v1/me")).json()["type"],  # 401
        (await client.get("/v1/offers/nope")).json()["type"],  # 404
        (await client.post("/v1/auth/token", json={"phone": 1})).json()["type"],  # 422
        (
            await client.post("/v1/auth/token", json={"phone": "+8613800000000", "pin": "000000"})
        ).json()["type"],  # 401 invalid-credentials
    ]
    emitted += [PROBLEM_BASE + slug for slug in catalogue()]
    assert len(emitted) > 25
    for type_uri in emitted:
        assert type_uri.startswith(PROBLEM_BASE)
        page = await client.get(type_uri)
        assert page.status_code == 200, type_uri
        assert page.headers["content-type"].startswith("text/html")
    sold_out = (await client.get(PROBLEM_BASE + "sold-out")).text
    assert "409" in sold_out and "capacity" in sold_out
    unknown = await client.get(PROBLEM_BASE + "no-such-problem")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_the_api_reference_covers_every_route(doc: dict[str, Any]) -> None:
    root = MANIFEST.parents[3]
    assert "docs/http-api.md" in (root / "README.md").read_text()
    reference = re.sub(r"\{[^}]*\}", "{}", (root / "docs" / "http-api.md").read_text())
    missing = [
        path
        for path in doc["paths"]
        if re.sub(r"\{[^}]*\}", "{}", path) not in reference and path != "/schema"
    ]
    assert missing == []
