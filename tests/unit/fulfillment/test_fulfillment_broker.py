from __future__ import annotations

from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO

from core.broker import DramatiqSender, InProcessSender, make_broker
from core.settings import load_settings
from fulfillment import actors


def test_embedded_defaults_get_a_stub_broker_with_asyncio() -> None:
    broker = make_broker(load_settings(environ={}, redis_url=""))
    assert isinstance(broker, StubBroker)
    assert any(isinstance(m, AsyncIO) for m in broker.middleware)


async def test_relay_sender_enqueues_the_routed_actor_with_the_outbox_id() -> None:
    broker = make_broker(load_settings(environ={}, redis_url=""))
    actors.declare(broker)
    actors.declare(broker)  # idempotent
    assert {"fulfillment.order_paid", "fulfillment.dispatch"} <= set(broker.actors)
    sender = DramatiqSender(broker, actors.ROUTES)
    assert sender.topics == {"order.paid", "fulfillment.dispatch"}
    await sender.send("outbox-id-1", "fulfillment.dispatch", {"shipment_id": "s1"})
    queue = broker.queues[actors.QUEUE]
    import dramatiq

    decoded = dramatiq.Message.decode(queue.get_nowait()).asdict()
    assert decoded["message_id"] == "outbox-id-1"
    assert decoded["actor_name"] == "fulfillment.dispatch"
    assert decoded["kwargs"] == {"shipment_id": "s1"}
    broker.close()


async def test_in_process_sender_awaits_the_handler() -> None:
    seen: list[dict[str, object]] = []

    async def handler(payload: dict[str, object]) -> None:
        seen.append(payload)

    sender = InProcessSender({"t": handler})
    await sender.send("id", "t", {"a": 1})
    assert seen == [{"a": 1}] and sender.topics == {"t"}
