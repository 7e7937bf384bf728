"""Every entry point takes its ports from the one composition it is given (api.composition):
routes through the `services` dependency, actors through the worker's per-process
`outbox_routes.configure`, periodic jobs from their runner, CLI commands from
`run_with_services`. Two compositions over the same runtime, each with its own fakes: each
entry point uses the fakes of the one it was given and never builds its own ports.

The static half: ports are built in api/composition.py only, and `build_services` is called
only where a process starts (the app, the worker, the CLI)."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

import payments
from api import cli_group, outbox_routes, payments_events, sms_events, ticketing_events
from api.app import create_app
from api.composition import Services, build_services
from api.periodic import PeriodicJob, PeriodicRunner
from commerce.errors import SoldOut
from core.runtime import Runtime
from core.settings import Settings
from core.sms import SinkSmsProvider, SmsOutbox
from fulfillment import actors as fulfillment_actors
from tests.auth_fixtures import make_customer, random_cn_mobile
from tests.conftest import make_test_settings

ROOT = Path(__file__).resolve().parents[2]


class Provider(SinkSmsProvider):
    """The sink, remembering what it delivered."""

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def deliver(self, to: str, body: str) -> str:
        self.delivered.append(to)
        return await super().deliver(to, body)


class Outbox(SmsOutbox):
    """The SMS port, remembering who it queued texts for."""

    def __init__(self) -> None:
        super().__init__(Provider())
        self.queued: list[str] = []

    async def send(self, session: Any, to: str, body: str, *, purpose: str, **links: Any) -> str:
        self.queued.append(to)
        return await super().send(session, to, body, purpose=purpose, **links)


class Placement:
    """An order placement that refuses every order, remembering it was asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def place(self, **_: Any) -> Any:
        self.asked += 1
        raise SoldOut(offer_id="o1", code="SHOW", title="Show", available=0)

    async def place_in(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("routes place with place()")


class Sender:
    topics = frozenset({"sms.send"})

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message_id: str, topic: str, payload: dict[str, Any]) -> None:
        self.sent.append(message_id)


@dataclasses.dataclass
class Fakes:
    services: Services
    sms: Outbox
    placement: Placement
    sender: Sender
    throttled: list[str]


def compose(runtime: Runtime) -> Fakes:
    sms, placement, sender = Outbox(), Placement(), Sender()
    services = build_services(runtime, sms=sms, outbox_sender=sender)
    services = dataclasses.replace(services, placement=placement)
    throttled: list[str] = []
    real_hit = services.throttle.hit_address

    async def hit_address(address: str, now: Any) -> None:
        throttled.append(address)
        await real_hit(address, now)

    services.throttle.hit_address = hit_address  # type: ignore[method-assign]
    return Fakes(services, sms, placement, sender, throttled)


@pytest.fixture
async def own_runtime(pg_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(make_test_settings(pg_url))  # on this test's loop
    yield runtime
    await runtime.close()


async def test_routes_use_the_composition_they_were_given(own_runtime: Runtime) -> None:
    customer = await make_customer(own_runtime)
    order = {"items": [{"offer_id": "o1", "quantity": 1}]}
    one, two = compose(own_runtime), compose(own_runtime)
    for mine, other in ((one, two), (two, one)):
        app = create_app(services=mine.services)
        assert app.state.runtime is own_runtime
        async with AsyncTestClient(app=app) as client:
            phone = random_cn_mobile()
            r = await client.post("/v1/auth/enrollment", json={"phone": phone})
            assert r.status_code in (200, 202), r.text
            r = await client.post("/v1/orders", json=order, headers=customer.headers)
            assert r.status_code == 409 and "sold-out" in r.json()["type"], r.text
        assert phone in mine.sms.queued and phone not in other.sms.queued
        assert mine.throttled and mine.placement.asked == 1
        other.throttled.clear()
        mine.throttled.clear()
        mine.placement.asked = 0


async def test_actors_and_periodic_jobs_use_the_worker_composition(
    own_runtime: Runtime,
) -> None:
    one, two = compose(own_runtime), compose(own_runtime)
    try:
        for mine, other in ((one, two), (two, one)):
            built: list[Services] = []

            def build(m: Fakes = mine, built: list[Services] = built) -> Services:
                built.append(m.services)
                return m.services

            outbox_routes.configure(build)
            # Every consumer's actors share the process's one composition, built once.
            assert fulfillment_actors._context.get() is mine.services.fulfillment
            assert payments_events._services.get() is mine.services
            assert ticketing_events._rt() is own_runtime
            assert sms_events._services.get() is mine.services
            assert len(built) == 1
            phone = random_cn_mobile()
            async with own_runtime.sessions() as s, s.begin():
                sms_id = await mine.services.sms.send(s, phone, "hello", purpose="test")
            await sms_events.sms_send(sms_id)  # the Dramatiq actor's body
            assert phone in mine.sms.provider.delivered  # type: ignore[attr-defined]
            assert phone not in other.sms.provider.delivered  # type: ignore[attr-defined]
            # Periodic jobs get the runner's composition (the relay: its outbox sender).
            seen: list[Services] = []

            async def probe(services: Services, seen: list[Services] = seen) -> None:
                seen.append(services)

            runner = PeriodicRunner(mine.services, [PeriodicJob("probe", 60, probe)])
            runner.start()
            while not seen:
                await asyncio.sleep(0.01)
            await runner.stop()
            assert seen == [mine.services] and seen[0].outbox_sender is mine.sender
    finally:
        outbox_routes.configure(_unconfigured)  # leave no composition over a closed runtime


def _unconfigured() -> Services:
    raise RuntimeError("configure() was not called")


def test_cli_commands_use_the_composition_built_for_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hotline sweep-payments` settles with the PaymentDeps of the composition the CLI
    built; a second composition with another gateway is the one the next run uses."""
    built: list[Services] = []
    given: list[object] = []

    def build(runtime: Runtime, **_: Any) -> Services:
        services = build_services(runtime, gateway=gateways[len(built)])
        built.append(services)
        return services

    async def sweep_once(sessions: Any, deps: payments.PaymentDeps, now: Any) -> int:
        given.append(deps)
        return 7

    # never called: sweep_once is replaced; only which one reaches it matters
    gateways = [payments.StripeGateway(f"sk_test_{n}", api_base="http://127.0.0.1:9") for n in "ab"]
    monkeypatch.setattr(cli_group, "settings_or_exit", lambda: settings)
    monkeypatch.setattr(cli_group, "build_services", build)
    monkeypatch.setattr(payments, "sweep_once", sweep_once)
    import api.cli_payments  # noqa: F401  (registers the command)

    for run in range(2):
        result = CliRunner().invoke(cli_group.main, ["sweep-payments"])
        assert result.exit_code == 0, result.output
        assert "7 payments or refunds settled" in result.output
        assert given[run] is built[run].payments
        assert built[run].payments.gateway is gateways[run]


PORT_BUILDERS = {
    "build_throttle",
    "build_sms_sender",
    "build_sms_provider",
    "card_gateway",
    "placement",
    "HttpPartnerClient",
    "PaymentDeps",
    "FulfillmentContext",
    "CommerceOrders",
    "StripeGateway",
    "DemoCardGateway",
}
STARTS_A_PROCESS = {"api/app.py", "api/worker.py", "api/cli_group.py", "api/composition.py"}


def _calls(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


def test_ports_are_built_in_the_composition_only() -> None:
    for path in sorted((ROOT / "api").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        calls = _calls(path)
        if rel != "api/composition.py":
            assert not calls & PORT_BUILDERS, f"{rel} builds {calls & PORT_BUILDERS}"
        if rel not in STARTS_A_PROCESS:
            assert "build_services" not in calls, f"{rel} builds a composition of its own"
        assert "Runtime.build" not in path.read_text() or rel in STARTS_A_PROCESS, rel


def test_no_string_keyed_ports_left() -> None:
    """No `x.ports` attribute anywhere (the module `payments.ports`, imported by name, is
    the payments room's typed PaymentDeps, not a locator)."""
    for room in ("core", "auth", "commerce", "payments", "fulfillment", "ticketing", "api"):
        for path in (ROOT / room).rglob("*.py"):
            tree = ast.parse(path.read_text())
            found = [
                n.lineno
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute) and n.attr == "ports"
            ]
            assert found == [], f"{path.relative_to(ROOT)}:{found}"


async def test_shutdown_closes_the_stripe_reads(own_runtime: Runtime) -> None:
    """The webhook's PaymentIntent read keeps its connections open (payments/gateway.py):
    the app's shutdown closes them."""
    from tests.stripe_stub import run_stripe_stub

    intent = {"id": "pi_1", "status": "succeeded", "amount": 100, "currency": "cny"}
    with run_stripe_stub() as stub:
        stub.canned[("GET", "/v1/payment_intents/pi_1")] = (200, intent)
        gateway = payments.StripeGateway("sk_test_x", api_base=stub.url)
        app = create_app(services=build_services(own_runtime, gateway=gateway))
        async with AsyncTestClient(app=app):
            assert (await gateway.retrieve_intent("pi_1")).status == "succeeded"
            reads = gateway._reads.get()
            assert not reads.closed
        assert reads.closed
