"""The per-number queue of a process: one number's texts one at a time, first come first
served, other numbers not held up, and the count the flood guard reads."""

from __future__ import annotations


async def test_sender_locks_queue_one_number_in_order_and_count_it() -> None:
    import asyncio

    from api.sms_channel.ordering import SenderLocks

    locks, seen = SenderLocks(), []

    async def text(phone: str, n: int) -> None:
        async with locks.hold(phone):
            seen.append((phone, n))
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(text("+861", n)) for n in range(5)]
    tasks.append(asyncio.create_task(text("+862", 0)))
    await asyncio.sleep(0)
    assert locks.queued("+861") == 5 and locks.queued("+862") == 1
    await asyncio.gather(*tasks)
    assert [n for p, n in seen if p == "+861"] == [0, 1, 2, 3, 4]
    assert len(locks) == 0 and locks.queued("+861") == 0
