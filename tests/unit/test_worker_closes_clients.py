"""A worker's graceful stop closes the actors' HTTP sessions in the event loop that opened
them, before Dramatiq stops that loop (api.worker.CloseActorClients): left open, aiohttp logs
an error for each at exit."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from api.worker import CloseActorClients, build_broker
from core.settings import load_settings


class Client:
    def __init__(self) -> None:
        self.opened_in: asyncio.AbstractEventLoop | None = None
        self.closed_in: asyncio.AbstractEventLoop | None = None

    async def open(self) -> None:
        self.opened_in = asyncio.get_running_loop()

    async def aclose(self) -> None:
        assert asyncio.get_running_loop().is_running()
        self.closed_in = asyncio.get_running_loop()


def _services(gateway: Any, partner: Any) -> Any:
    return SimpleNamespace(
        payments=SimpleNamespace(gateway=gateway), fulfillment=SimpleNamespace(client=partner)
    )


def _worker(built: Any) -> dramatiq.Worker:
    broker = StubBroker(middleware=[AsyncIO()])
    broker.add_middleware(CloseActorClients(built))
    return dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)


def test_the_actors_sessions_close_in_their_own_loop_when_the_worker_stops() -> None:
    gateway, partner = Client(), Client()
    worker = _worker(lambda: _services(gateway, partner))
    worker.start()
    loop_thread = get_event_loop_thread()
    assert loop_thread is not None
    loop_thread.run_coroutine(gateway.open())
    loop_thread.run_coroutine(partner.open())
    worker.stop()
    assert gateway.opened_in is not None and gateway.closed_in is gateway.opened_in
    assert partner.opened_in is not None and partner.closed_in is partner.opened_in


def test_nothing_built_nothing_closed_and_cards_off_is_fine() -> None:
    worker = _worker(lambda: None)
    worker.start()
    worker.stop()  # no services built: no error
    partner = Client()
    worker = _worker(lambda: _services(None, partner))  # cards off: no gateway to close
    worker.start()
    worker.stop()
    assert partner.closed_in is not None


def test_the_worker_broker_runs_the_close_before_asyncio_stops_the_loop() -> None:
    settings = load_settings(environ={}, env="test", secret_key=uuid.uuid4().hex * 2)
    kinds = [type(m) for m in build_broker(settings).middleware]
    # emit_after calls middleware in reverse order: ours must come after AsyncIO in the list
    assert kinds.index(AsyncIO) < kinds.index(CloseActorClients)
