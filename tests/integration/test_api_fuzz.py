"""The acceptance fuzz run, in the suite: schemathesis reads the app's own OpenAPI document
from a live uvicorn on loopback and sends a few generated requests, valid and invalid, to every
operation with a customer's and an admin's token. No answer may be a 5xx, and every answer
must match what the document says (status code, content type, body schema).

Bounded and reproducible: hypothesis derandomized, no example database, no shrinking, a few
examples per operation and mode. HOTLINE_FUZZ_EXAMPLES raises the count for a longer run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import make_agent, make_customer
from tests.integration.commerce.servers import uvicorn_servers

EXAMPLES = int(os.environ.get("HOTLINE_FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, response_schema_conformance]
STATUSES: dict[int, int] = {}


@pytest.fixture(scope="module")
def live_url(settings: Settings) -> Iterator[str]:
    # Jobs are only enqueued (HOTLINE_WORKER=dramatiq, no worker runs): a fuzzed partner
    # endpoint must never be dispatched to.
    with uvicorn_servers(settings, count=1, extra_env={"HOTLINE_WORKER": "dramatiq"}) as urls:
        yield urls[0]


def _run(operation: Any, mode: GenerationMode, url: str, tokens: list[str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        for token in tokens:
            headers = {"Authorization": f"Bearer {token}"}
            response = case.call(base_url=url, headers=headers, timeout=10)
            STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS, headers=headers)

    check()


async def test_no_operation_answers_5xx_or_off_schema(live_url: str, runtime: Runtime) -> None:
    customer = await make_customer(runtime)
    admin = await make_agent(runtime, "admin")
    schema = schemathesis.openapi.from_url(f"{live_url}/schema/openapi.json")
    failures: list[str] = []
    started = time.monotonic()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # Negative cases only where a body or query can be invalid: a lone free-text path
        # parameter cannot, and hypothesis would search seconds to say so.
        invalid = bool(len(operation.query) or len(operation.body))
        for mode in (GenerationMode.POSITIVE, *([GenerationMode.NEGATIVE] if invalid else [])):
            try:
                _run(operation, mode, live_url, [customer.token, admin.token])
            except Unsatisfiable:
                pass  # every parameter is free text: nothing to make invalid
            except Exception as exc:  # every failing operation is reported, not just the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}"[:2000])
    elapsed = time.monotonic() - started
    print(f"fuzz: {operations} operations, {elapsed:.1f} s, statuses {sorted(STATUSES.items())}")
    assert operations > 30
    assert not failures, f"{len(failures)} failing ({elapsed:.0f} s):\n" + "\n\n".join(failures)
