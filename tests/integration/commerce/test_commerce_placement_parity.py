"""Both adapters of the placement port write the same rows and refuse alike: one sequence of
orders and refusals, played against PostgreSQL (commerce_place_order on asyncpg's pool) and
against SQLite (inserts and capacity.hold), must leave the same orders, items, history,
stored replies and seats, and raise the same domain errors. Refusals the quote makes come
from guards.check_quote in both; refusals at the hold are provoked with a quote taken before
the offer changed (the guard in each database's conditional UPDATE must catch them)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, update

import commerce
from api.migrate import upgrade
from commerce import LineRequest, Offer, Order, OrderEvent, OrderItem, guards
from core import idempotency
from core.clock import TravelClock
from core.idempotency import IdempotencyRecord
from core.money import Money
from core.runtime import Runtime

Stale = Callable[[Any], Any]  # what a quote read, changed into what it read earlier


@pytest.fixture
async def lite(rt: Runtime, clock: TravelClock, tmp_path: Path) -> AsyncIterator[Runtime]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'parity.db'}"
    await asyncio.to_thread(upgrade, url)
    own = Runtime.build(dataclasses.replace(rt.settings, database_url=url), clock=clock)
    yield own
    await own.close()


async def _offers(rt: Runtime, run: str, now: datetime) -> None:
    """The same catalogue in each database, under the same ids (they sort alike)."""
    specs = {
        "a": (5, Money(68000, "CNY")),
        "b": (2, Money(12000, "CNY")),
        "u": (5, Money(9900, "USD")),
        "s": (5, Money(5000, "CNY")),
    }
    async with rt.sessions() as session, session.begin():
        for name, (seats, price) in specs.items():
            offer = await commerce.create_offer(
                session,
                kind="event",
                title=f"parity {name}",
                venue="上海体育场",
                starts_at=now + timedelta(days=7),
                price=price,
                capacity=seats,
                now=now,
                code=f"P{run}{name}".upper(),
            )
            values: dict[str, Any] = {"id": f"{run}-{name}"}
            if name == "s":  # started an hour ago (create_offer refuses a past start)
                values["starts_at"] = now - timedelta(hours=1)
            await session.execute(update(Offer).where(Offer.id == offer.id).values(**values))


def _stale(monkeypatch: pytest.MonkeyPatch, change: Stale) -> None:
    """The quote read its rows before someone else's commit."""
    check_quote = guards.check_quote

    def stale(lines: Any, rows: dict[str, Any], now: datetime) -> Any:
        fields = {k: r._asdict() if hasattr(r, "_asdict") else vars(r) for k, r in rows.items()}
        earlier = {k: change(SimpleNamespace(**f)) for k, f in fields.items()}
        return check_quote(lines, earlier, now)

    monkeypatch.setattr(guards, "check_quote", stale)


def _was(**earlier: Any) -> Stale:
    return lambda row: SimpleNamespace(**{**vars(row), **earlier})


async def _play(rt: Runtime, run: str, now: datetime, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The sequence; what each step did: the order placed (its id) or the error it raised."""
    await _offers(rt, run, now)
    customer, port = f"parity-{run}", commerce.placement(rt)
    claim = await idempotency.claim(
        rt.sessions, scope=f"parity:{run}", key="k1", fingerprint="f", now=now
    )
    refused_claim = await idempotency.claim(
        rt.sessions, scope=f"parity:{run}", key="k2", fingerprint="f", now=now
    )

    def reply(claimed: idempotency.Claim) -> Any:
        return lambda o: idempotency.completion(
            claimed, status=201, body={"total": o.total}, resource_id=o.id
        )

    steps: list[tuple[list[tuple[str, int]], str, Stale | None, Any]] = [
        ([("a", 2)], "e_ticket", None, reply(claim)),
        ([("b", 1), ("a", 1)], "courier", None, None),
        ([("b", 2)], "e_ticket", None, reply(refused_claim)),  # sold out at the quote
        ([("a", 0)], "e_ticket", None, None),  # bad quantity
        ([("nope", 1)], "e_ticket", None, None),  # unknown offer
        ([("a", 1), ("u", 1)], "e_ticket", None, None),  # two currencies in one order
        ([("s", 1)], "e_ticket", None, None),  # started, as the quote sees
        ([("b", 2)], "e_ticket", _was(available=5), None),  # sold out at the hold
        ([("a", 1)], "e_ticket", _was(price_amount=60000), None),  # price changed
        ([("a", 1)], "e_ticket", _was(currency="USD"), None),  # currency changed
        ([("s", 1)], "e_ticket", _was(starts_at=now + timedelta(days=1)), None),  # started
        # b refused at the hold after a's seats were taken: a's go back with the rest
        ([("a", 1), ("b", 2)], "e_ticket", _was(available=10), None),
        ([("u", 2)], "e_ticket", None, None),
    ]
    said: list[Any] = []
    for lines, method, stale, respond in steps:
        with monkeypatch.context() as m:
            if stale is not None:
                _stale(m, stale)
            try:
                placed = await port.place(
                    customer_id=customer,
                    lines=[LineRequest(f"{run}-{o}" if o != "nope" else o, q) for o, q in lines],
                    delivery_method=method,
                    delivery_address="上海市徐汇区漕溪北路1111号" if method == "courier" else None,
                    actor=f"customer:{customer}",
                    channel="web",
                    now=now,
                    respond=respond,
                )
                said.append(("placed", placed.id))
            except Exception as exc:
                said.append(_error(exc, run))
    return said


def _error(exc: Exception, run: str) -> tuple[Any, ...]:
    def named(value: Any) -> Any:
        return value.replace(f"{run}-", "") if isinstance(value, str) else value

    return (
        type(exc).__name__,
        getattr(exc, "status", None),
        named(getattr(exc, "detail", str(exc))),
        repr(getattr(exc, "errors", None)),
        sorted((k, named(v)) for k, v in getattr(exc, "extra", {}).items()),
    )


async def _rows(rt: Runtime, run: str, said: list[Any]) -> dict[str, Any]:
    """Every row the sequence wrote, with ids and random numbers replaced by step numbers."""
    step = {outcome[1]: i for i, outcome in enumerate(said) if outcome[0] == "placed"}
    async with rt.sessions() as session:
        orders = (
            await session.scalars(select(Order).where(Order.customer_id == f"parity-{run}"))
        ).all()
        items = (await session.scalars(select(OrderItem).where(OrderItem.order_id.in_(step)))).all()
        events = (
            await session.scalars(select(OrderEvent).where(OrderEvent.order_id.in_(step)))
        ).all()
        offers = (await session.scalars(select(Offer).where(Offer.id.like(f"{run}-%")))).all()
        keys = (
            await session.scalars(
                select(IdempotencyRecord).where(IdempotencyRecord.scope == f"parity:{run}")
            )
        ).all()

    def cols(row: Any, skip: set[str]) -> dict[str, Any]:
        values = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}
        values = {k: step.get(v, v) if k.endswith("_id") else v for k, v in values.items()}
        return {k: v.replace(f"{run}-", "") if isinstance(v, str) else v for k, v in values.items()}

    def rows(found: Any, skip: set[str]) -> list[Any]:
        return sorted((cols(r, skip) for r in found), key=repr)

    return {
        "orders": sorted((step[o.id], cols(o, {"id", "number", "customer_id"})) for o in orders),
        "items": rows(items, {"id"}),
        "history": rows(events, {"id"}),
        "offers": rows(offers, {"code", "created_at", "updated_at"}),
        "replies": rows(
            keys, {"id", "key", "scope", "created_at", "expires_at", "locked_until", "fingerprint"}
        ),
    }


async def test_both_adapters_write_the_same_rows_and_refuse_alike(
    rt: Runtime, lite: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, now = uuid.uuid4().hex[:6], rt.clock.now()
    on_pg = await _play(rt, run, now, monkeypatch)
    on_lite = await _play(lite, run, now, monkeypatch)
    assert [o[0] for o in on_pg] == [
        "placed", "placed", "SoldOut", "ValidationFailed", "ValidationFailed",
        "ValidationFailed", "ValidationFailed", "SoldOut", "Busy", "Busy", "ValidationFailed",
        "SoldOut", "placed",
    ]  # fmt: skip
    assert [o if o[0] != "placed" else "placed" for o in on_lite] == [
        o if o[0] != "placed" else "placed" for o in on_pg
    ]
    pg_rows, lite_rows = await _rows(rt, run, on_pg), await _rows(lite, run, on_lite)
    for table in ("orders", "items", "history", "offers", "replies"):
        assert lite_rows[table] == pg_rows[table], table
    assert len(pg_rows["orders"]) == 3 and len(pg_rows["replies"]) == 2
    assert [o["available"] for o in pg_rows["offers"]] == [2, 1, 5, 3]  # a b s u
