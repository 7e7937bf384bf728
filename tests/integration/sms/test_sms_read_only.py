"""HELP, STATUS and an empty text take the read-only path on PostgreSQL (api.sms_channel.
read_only: an asyncpg transaction, no ORM session). The same texts through the plain path
(answer_once in a session) must give the same replies and store the same records; a retried
MessageSid is answered once; a copy that slips past the lock gets the first copy's reply and
stores nothing; what the read-only path cannot answer alone reaches the plain path."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy import text as sql

from api.app import create_app
from api.sms_channel import ordering, read_only
from core.clock import TravelClock
from core.drivers import DriverPool
from core.runtime import Runtime
from core.settings import Settings
from core.sms import SmsInbound, SmsMessage
from tests.auth_fixtures import make_customer, random_cn_mobile
from tests.integration.sms.channel import make_offer, order_number, stored, text
from tests.integration.sms.conftest import PUBLIC
from tests.twilio_server import TwilioServer

PIN = "274915"
# A transaction left open on a connection of this database, or an advisory lock held by one.
LEFT_OPEN = sql(
    "SELECT count(*) FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid"
    " AND l.locktype = 'advisory' WHERE a.datname = current_database()"
    " AND a.pid <> pg_backend_pid() AND (a.state LIKE 'idle in transaction%' OR l.pid IS NOT NULL)"
)
KEPT = ("direction", "to", "body", "purpose", "status", "segments", "command", "outcome")


@pytest.fixture(scope="module")
async def client(sms_settings: Settings, clock: TravelClock) -> AsyncIterator[Any]:
    app: Litestar = create_app(sms_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        yield c


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the read-only path answered (None: handed to the plain path), text by text."""
    seen: list[Any] = []
    real = read_only.answer

    async def spy(*args: Any) -> Any:
        seen.append(await real(*args))
        return seen[-1]

    monkeypatch.setattr(read_only, "answer", spy)
    return seen


def records(rows: list[SmsMessage], phone: str) -> list[tuple[Any, ...]]:
    """A number's stored conversation without what differs between any two texts."""
    return [
        (*(getattr(m, f) for f in KEPT), m.order_id is None, m.from_phone == phone) for m in rows
    ]


async def test_the_read_only_path_answers_and_stores_as_the_plain_path(
    client: Any,
    twilio: TwilioServer,
    sms_rt: Runtime,
    taken: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    zh = await make_customer(sms_rt, locale="zh", pin=PIN)
    offer = await make_offer(sms_rt, price=12050)
    numbers = [order_number(await sms(me.phone, f"BOOK {offer.code} {q}")) for q in (1, 2)]
    assert (await sms(me.phone, f"CANCEL {numbers[1]} {PIN}")).endswith("cancelled.")
    texts = [
        (me.phone, "STATUS"),
        (me.phone, f"STATUS {numbers[1]}"),
        (me.phone, f"status {numbers[0].lower()}"),
        (me.phone, "STATUS ZZZZZZZZ"),
        (me.phone, "HELP"),
        (me.phone, ""),
        (zh.phone, "状态"),
        (zh.phone, "帮助"),
    ]
    before = {p: len(await stored(sms_rt, p)) for p in (me.phone, zh.phone)}
    quick = [await sms(phone, body) for phone, body in texts]
    assert len(taken) == len(texts) and all(t is not None and t[1] for t in taken)
    middle = {p: len(await stored(sms_rt, p)) for p in (me.phone, zh.phone)}

    monkeypatch.setattr(read_only, "VERBS", frozenset())  # the plain path from here on
    plain = [await sms(phone, body) for phone, body in texts]
    assert len(taken) == len(texts)  # not asked again
    assert quick == plain
    assert "\n" in quick[0] and quick[1] == f"Order {numbers[1]}: cancelled, 246 CNY."
    for phone in (me.phone, zh.phone):
        rows = await stored(sms_rt, phone)
        fast, slow = rows[before[phone] : middle[phone]], rows[middle[phone] :]
        assert records(fast, phone) == records(slow, phone)
        assert [m.order_id for m in fast] == [m.order_id for m in slow]


async def test_a_retried_message_sid_is_answered_once(
    client: Any, twilio: TwilioServer, sms_rt: Runtime, taken: list[Any]
) -> None:
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    sid = "SM" + uuid.uuid4().hex
    first = await sms(me.phone, "STATUS", sid=sid)
    again = await sms(me.phone, "STATUS", sid=sid)
    assert first == again == "You have no orders yet."
    assert [t[1] for t in taken] == [True, False]
    assert len(await stored(sms_rt, me.phone)) == 2
    async with sms_rt.sessions() as s:
        assert await s.scalar(select(SmsInbound.reply).where(SmsInbound.message_sid == sid)) == (
            first
        )


async def test_a_copy_past_the_lock_gets_the_first_reply_and_stores_nothing(
    client: Any,
    twilio: TwilioServer,
    sms_rt: Runtime,
    taken: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As if two processes had both read no stored reply: the second's insert fails on the
    MessageSid's key and rolls back; its reply is the one the first stored."""
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    sid = "SM" + uuid.uuid4().hex
    now = sms_rt.clock.now()
    async with sms_rt.sessions() as s, s.begin():
        s.add(SmsInbound(message_sid=sid, from_phone=me.phone, reply="first", received_at=now))
    real = ordering.read_opening

    async def blind(*args: Any) -> ordering.Opening:
        opened = await real(*args)
        return ordering.Opening(None, opened.customer_id, opened.locale, opened.replies)

    monkeypatch.setattr(read_only, "read_opening", blind)
    assert await sms(me.phone, "HELP", sid=sid) == "first"
    assert taken == [("first", False, None)]
    assert await stored(sms_rt, me.phone) == []
    assert await sms(me.phone, "HELP") != "first"  # the connection went back to the pool clean
    async with sms_rt.sessions() as s:
        count = select(func.count()).select_from(SmsInbound)
        assert await s.scalar(count.where(SmsInbound.from_phone == me.phone)) == 2


async def test_what_it_cannot_answer_alone_reaches_the_plain_path(
    client: Any, twilio: TwilioServer, sms_rt: Runtime, taken: list[Any]
) -> None:
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    stranger = random_cn_mobile()
    assert (await sms(stranger, "HELP")).startswith("Hotline: this number is not registered")
    assert await sms(stranger, "STATUS") == ""
    assert taken == [None, None]
    rows = await stored(sms_rt, stranger)
    assert [(m.direction, m.outcome) for m in rows] == [
        ("in", "enroll_hint"),
        ("out", "enroll_hint"),
        ("in", "ignored_unknown"),
    ]
    # A usage reply is the plain path's without asking the read-only one.
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    assert (await sms(me.phone, "STATUS 12")).startswith("Format: STATUS")
    assert len(taken) == 2


async def test_it_waits_for_the_plain_paths_lock_on_the_number(
    client: Any, twilio: TwilioServer, sms_rt: Runtime, taken: list[Any]
) -> None:
    """The read-only path takes the plain path's lock on the number: a text waits while
    another transaction (another process's, here a thread's) holds the number, then sees
    what it committed."""
    sms = partial(text, client, twilio.auth_token, PUBLIC)
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    sid = "SM" + uuid.uuid4().hex
    now = sms_rt.clock.now()
    locked = threading.Event()

    async def hold() -> None:
        pool = DriverPool(sms_rt.settings.database_url)
        async with pool.connection() as pg, pg.transaction():
            await pg.execute(ordering.LOCK, ordering.lock_name(me.phone))
            locked.set()
            await asyncio.sleep(0.5)
            await pg.execute(
                "INSERT INTO sms_inbound (message_sid, from_phone, reply, received_at)"
                " VALUES ($1, $2, 'held', $3)",
                sid,
                me.phone,
                now,
            )
        await pool.close()

    holder = threading.Thread(target=asyncio.run, args=(hold(),))
    holder.start()
    assert locked.wait(5)
    started = time.monotonic()
    assert await sms(me.phone, "STATUS", sid=sid) == "held"  # the client blocks this loop
    assert time.monotonic() - started > 0.3
    holder.join(5)
    assert taken == [("held", False, None)]


async def test_a_failure_midway_rolls_back_and_frees_the_number(
    sms_settings: Settings,
    clock: TravelClock,
    twilio: TwilioServer,
    sms_rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A text that fails after taking the number's lock leaves no transaction (and no lock)
    on the pooled connection: the number's next texts are answered."""
    me = await make_customer(sms_rt, locale="en", pin=PIN)
    real = read_only.store_on

    async def broken(*args: Any) -> None:
        raise RuntimeError("disk full")

    app: Litestar = create_app(sms_settings, clock=clock)
    async with AsyncTestClient(app=app, base_url="http://10.0.0.7:8000") as c:
        monkeypatch.setattr(read_only, "store_on", broken)
        with pytest.raises(AssertionError):  # the text is refused (5xx), nothing stored
            await text(c, twilio.auth_token, PUBLIC, me.phone, "STATUS")
        async with sms_rt.sessions() as s:
            assert not await s.scalar(LEFT_OPEN)
        monkeypatch.setattr(read_only, "store_on", real)
        for _ in range(10):  # every pooled connection: none is left inside a transaction
            reply = await text(c, twilio.auth_token, PUBLIC, me.phone, "STATUS")
            assert reply == "You have no orders yet."
    assert len(await stored(sms_rt, me.phone)) == 20
