"""The IVR's call-state store without a reachable Redis: memory, like the throttle's fallback."""

from __future__ import annotations

import redis.asyncio as aioredis

from api.voice_state import MEMORY_CALLS, CallState, CallStates


async def test_memory_store_without_redis() -> None:
    states = CallStates(None, "t", ttl_seconds=60)
    assert await states.load("CA1") is None
    await states.save("CA1", CallState(language="en", path=["1", "pin:ok"]))
    loaded = await states.load("CA1")
    assert loaded == CallState(language="en", path=["1", "pin:ok"])
    assert await states.pop("CA1") == loaded
    assert await states.load("CA1") is None


async def test_an_unreachable_redis_falls_back_to_memory() -> None:
    down = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    states = CallStates(down, "t", ttl_seconds=60)
    await states.save("CA2", CallState(language="zh", pending="2"))  # no exception: memory
    assert (await states.load("CA2")).pending == "2"
    await states.forget("CA2")
    assert await states.load("CA2") is None
    await down.aclose()


async def test_a_full_memory_store_makes_room_instead_of_refusing_calls() -> None:
    states = CallStates(None, "t", ttl_seconds=60)
    for i in range(MEMORY_CALLS):
        states._mem[f"{states.prefix}CA{i}"] = (b"{}", float(i) + 1e12)
    await states.save("CAnew", CallState(language="en"))
    assert (await states.load("CAnew")).language == "en"
    assert len(states._mem) <= MEMORY_CALLS
