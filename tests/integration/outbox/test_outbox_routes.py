"""Every outbox topic a room emits has a consumer, both ways a message reaches its job (the
in-process relay and Dramatiq), and `hotline serve` / `hotline worker` refuse to start when
one has none. The emitted topics come from the rooms' declarations (`<room>.TOPICS`); a
second test reads the code's `emit(...)` calls, so a topic emitted but not declared fails."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from api import outbox_routes, worker
from api.app import create_app
from api.composition import build_services
from core.broker import make_broker
from core.runtime import Runtime
from core.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("auth", "commerce", "payments", "fulfillment", "ticketing", "core", "api")


def _emitted_in_code() -> dict[str, list[str]]:
    """topic -> where (`file:line`), for every emit(session, TOPIC, ...) in the code. A topic
    must be a literal or a module-level constant, so it can be checked without running."""
    found: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name == "outbox.py" and package == "core":
                continue  # the definition
            tree = ast.parse(path.read_text(encoding="utf-8"))
            module: Any = None
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call) or len(node.args) < 2:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name != "emit":
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    topic = arg.value
                else:
                    if module is None:
                        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                        module = importlib.import_module(dotted.removesuffix(".__init__"))
                    try:
                        topic = eval(ast.unparse(arg), vars(module))  # noqa: S307 - our own code
                    except NameError:
                        pytest.fail(f"{where}: emit() topic is not a constant: {ast.unparse(arg)}")
                found.setdefault(str(topic), []).append(where)
    return found


def test_code_emits_only_declared_topics() -> None:
    emitted = _emitted_in_code()
    assert "order.cancelled" in emitted and "ticket.escalated" in emitted  # the scan works
    undeclared = {t: w for t, w in emitted.items() if t not in outbox_routes.EMITTED}
    assert not undeclared, f"declare these in the emitting room's TOPICS: {undeclared}"


def test_every_declared_topic_has_a_dramatiq_route_and_actor(settings: Settings) -> None:
    routes = outbox_routes.routes()
    assert set(routes) >= outbox_routes.EMITTED
    broker = make_broker(load_settings(environ={}, redis_url=""))
    try:
        outbox_routes.declare(broker)
        for topic in outbox_routes.EMITTED:
            route = routes[topic]
            assert broker.get_actor(route.actor_name).queue_name == route.queue_name, topic
            assert route.queue_name in worker.QUEUES, topic
    finally:
        broker.close()


def _sample_payloads() -> dict[str, dict[str, Any]]:
    """A message of each topic about things that do not exist: every consumer must take it
    (log, count, return) rather than fail forever. A new topic needs a line here."""
    missing = uuid.uuid4().hex
    return {
        "order.paid": {"order_id": missing},
        "order.cancelled": {"order_id": missing, "was": "paid"},
        "sms.send": {"sms_id": missing},
        "payments.payout_paid": {"payout_id": f"po_{missing}"},
        "fulfillment.dispatch": {"shipment_id": missing},
        "fulfillment.shipment_failed": {"shipment_id": missing},
        "payment.incident": {
            "incident_id": missing,
            "payment_id": missing,
            "order_id": missing,
            "kind": "dispute",
        },
        "ticket.escalated": {
            "ticket_id": missing,
            "clock": "resolution",
            "cycle": 1,
            "level": "breach",
            "notify": [missing],
        },
    }


async def test_walk_every_emitted_topic_through_its_in_process_consumer(
    ob_runtime: Runtime,
) -> None:
    samples = _sample_payloads()
    assert set(samples) == set(outbox_routes.EMITTED)
    handlers = outbox_routes.handlers(build_services(ob_runtime))
    for topic in sorted(outbox_routes.EMITTED):
        await handlers[topic](samples[topic])  # raises if the consumer cannot take it


def test_check_names_an_unrouted_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    outbox_routes.check_routes()  # the real tables are complete
    monkeypatch.setattr(outbox_routes, "EMITTED", outbox_routes.EMITTED | {"voucher.issued"})
    with pytest.raises(outbox_routes.UnroutedTopics, match=r"voucher\.issued"):
        outbox_routes.check_routes()


async def test_api_and_worker_refuse_to_start_with_an_unrouted_topic(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox_routes, "EMITTED", outbox_routes.EMITTED | {"voucher.issued"})
    app = create_app(settings)
    with pytest.raises(BaseException) as started:  # the lifespan wraps it in a group
        async with AsyncTestClient(app=app):
            pass
    assert started.group_contains(outbox_routes.UnroutedTopics, match=r"voucher\.issued")
    with pytest.raises(outbox_routes.UnroutedTopics, match=r"voucher\.issued"):
        await worker.serve(dataclasses.replace(settings, worker_periodic=0))


@pytest.mark.parametrize("command", [["serve"], ["worker", "--processes", "1"], ["run"]])
@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, r"voucher\.issued"),  # with the invented topic below
        ({"HOTLINE_DISPATCH_LEASE_SECONDS": "5"}, "HOTLINE_DISPATCH_LEASE_SECONDS"),
        ({"HOTLINE_DISPATCH_TIMEOUT_SECONDS": "soon"}, "HOTLINE_DISPATCH_TIMEOUT_SECONDS"),
    ],
)
def test_the_commands_refuse_a_bad_start_in_one_line(
    monkeypatch: pytest.MonkeyPatch, command: list[str], env: dict[str, str], named: str
) -> None:
    """Found in the acceptance run: `hotline serve` printed uvicorn's lifespan traceback for a
    bad HOTLINE_DISPATCH_* and `hotline worker` restarted its crashing processes forever.
    Both now stop before serving or spawning, with the message and exit code 2."""
    import subprocess

    import uvicorn
    from click.testing import CliRunner

    from api.cli import main

    if not env:
        monkeypatch.setattr(outbox_routes, "EMITTED", outbox_routes.EMITTED | {"voucher.issued"})

    def never(*_a: object, **_k: object) -> None:
        raise AssertionError("started despite a bad configuration")

    monkeypatch.setattr(uvicorn, "run", never)
    monkeypatch.setattr(subprocess, "Popen", never)
    monkeypatch.setattr("api.migrate.upgrade", never)
    base = {"HOTLINE_ENV": "test", "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0"}
    result = CliRunner().invoke(main, command, env={**base, **env})
    assert result.exit_code == 2, result.output
    assert "configuration error:" in result.output
    assert __import__("re").search(named, result.output), result.output
