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


def test_dramatiq_gives_up_long_before_our_recovery_takes_over() -> None:
    """Dramatiq's retries are bounded, and a job it gives up on is ours again: order.paid is
    redelivered from the outbox only after Dramatiq's whole retry window (so the two never
    race), yet within about a minute, and dispatch is re-sent by the watchdog whatever
    Dramatiq did."""
    from api.outbox_jobs import redelivery_scan_seconds
    from fulfillment import RetryPolicy

    broker = make_broker(load_settings(environ={}, redis_url=""))
    actors.declare(broker)
    for name in ("fulfillment.order_paid", "fulfillment.dispatch"):
        options = broker.get_actor(name).options
        assert 0 < options["max_retries"] <= 5
        assert options["max_backoff"] <= 16_000
    policy = RetryPolicy()
    assert actors.retry_window_seconds("fulfillment.order_paid") == 30.0
    assert actors.retry_window_seconds("fulfillment.order_paid") < policy.redeliver_seconds
    # Lost at the send: picked up by the scan after redeliver_seconds (worst case a scan period
    # later, plus the 5 s sweep tick).
    assert policy.redeliver_seconds + redelivery_scan_seconds(policy) + 5 <= 65
    assert actors.retry_window_seconds("fulfillment.dispatch") < policy.lease_seconds
    broker.close()
