"""No network call inside a database transaction: the one-time code, the pay link, the
survey and the e-ticket reach the (Twilio-compatible, local) provider only after the
transaction that queued them committed, never for one that rolled back; the provider's
message id is stored and the signed delivery-status webhook moves that row."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import fulfillment
import payments
import ticketing
from api.composition import build_services
from auth import codes
from core.principal import Principal
from core.runtime import Runtime
from payments.orders import OrderInfo
from tests.auth_fixtures import make_agent, make_customer, random_cn_mobile
from tests.integration.fulfillment.conftest import StubOrders, only_partner
from tests.integration.sms.conftest import messages, post_status, relay, services
from tests.twilio_server import Text, TwilioServer
from ticketing.models import Ticket

ADDRESS = f"198.51.100.{random.randint(1, 250)}"
Action = Callable[[AsyncSession], Awaitable[Any]]


class Abort(Exception):
    pass


async def sent_after_commit(rt: Runtime, twilio: TwilioServer, phone: str, act: Action) -> Text:
    """Run `act` in a transaction; relay from another connection before the commit (nothing
    may leave) and after it (exactly one text)."""
    async with rt.sessions() as session, session.begin():
        await act(session)
        await relay(rt)
        assert twilio.to(phone) == [], "texted before the commit"
        assert [m.status for m in await messages(rt, phone)] == []  # not visible yet
    assert [m.status for m in await messages(rt, phone)] == ["queued"]
    await relay(rt)
    [text] = twilio.to(phone)
    [row] = await messages(rt, phone)
    assert (row.status, row.provider_message_id) == ("sent", text.sid)
    assert row.body == (text.body if row.purpose != "otp" else "[sent; secret not kept]")
    assert text.status_callback == "https://hotline.example.com/v1/webhooks/sms/status"
    await relay(rt)  # a second pass (or a redelivered job) does not text it again
    assert len(twilio.to(phone)) == 1
    return text


async def nothing_on_rollback(rt: Runtime, twilio: TwilioServer, phone: str, act: Action) -> None:
    with pytest.raises(Abort):
        async with rt.sessions() as session, session.begin():
            await act(session)
            raise Abort
    await relay(rt)
    assert twilio.to(phone) == [] and await messages(rt, phone) == []


async def status_moves_row(client: Any, rt: Runtime, twilio: TwilioServer, text: Text) -> None:
    r = await post_status(client, twilio.auth_token, text.sid, "delivered")
    assert r.status_code == 204, r.text
    assert [m.status for m in await messages(rt, text.to)] == ["delivered"]
    r = await post_status(client, twilio.auth_token, text.sid, "sent")  # late, out of order
    assert r.status_code == 204
    assert [m.status for m in await messages(rt, text.to)] == ["delivered"]


async def test_one_time_code(sms_rt: Runtime, twilio: TwilioServer, sms_client: Any) -> None:
    phone, other = random_cn_mobile(), random_cn_mobile()

    def code_for(number: str) -> Action:
        async def act(session: AsyncSession) -> None:
            jobs = services(sms_rt)
            await codes.send_code(
                sms_rt, session, number, gate=jobs.throttle, sms=jobs.sms, address=ADDRESS
            )

        return act

    text = await sent_after_commit(sms_rt, twilio, phone, code_for(phone))
    assert re.search(r"\b\d{6}\b", text.body) and text.sender == "+15005550006"
    await status_moves_row(sms_client, sms_rt, twilio, text)
    await nothing_on_rollback(sms_rt, twilio, other, code_for(other))


class OneOrder:
    """The order port for one awaiting-payment order (payments keeps no foreign key to it)."""

    def __init__(self, info: OrderInfo) -> None:
        self.info = info

    async def get(self, session: AsyncSession, order_id: str, principal: Any) -> OrderInfo:
        return self.info


def awaiting_payment(rt: Runtime, phone: str) -> OrderInfo:
    order_id = uuid.uuid4().hex
    return OrderInfo(
        id=order_id,
        number=f"HL-{order_id[:6].upper()}",
        customer_id=uuid.uuid4().hex,
        status="awaiting_payment",
        currency="CNY",
        subtotal=28000,
        booking_fee=1000,
        delivery_fee=0,
        total=29000,
        hold_expires_at=rt.clock.now() + timedelta(minutes=15),
        customer_phone=phone,
    )


async def test_pay_link(sms_rt: Runtime, twilio: TwilioServer, sms_client: Any) -> None:
    def pay_link(info: OrderInfo) -> Action:
        deps = payments.PaymentDeps(
            orders=OneOrder(info),  # type: ignore[arg-type]
            gateway=object(),  # type: ignore[arg-type]  # a pay link calls no gateway
            public_base_url="https://hotline.example.com",
            notifier=services(sms_rt).sms,
        )

        async def act(session: AsyncSession) -> None:
            await payments.start_payment(
                session,
                deps,
                info.id,
                "card",
                principal=Principal("customer", info.customer_id),
                request_key=uuid.uuid4().hex,
                now=sms_rt.clock.now(),
            )

        return act

    phone = random_cn_mobile()
    info = awaiting_payment(sms_rt, phone)
    text = await sent_after_commit(sms_rt, twilio, phone, pay_link(info))
    assert info.number in text.body and "290.00 CNY" in text.body and "/pay/" in text.body
    await status_moves_row(sms_client, sms_rt, twilio, text)
    other = random_cn_mobile()
    await nothing_on_rollback(sms_rt, twilio, other, pay_link(awaiting_payment(sms_rt, other)))


async def open_ticket(client: Any, rt: Runtime) -> tuple[Any, str]:
    me = await make_customer(rt, locale="en")
    body = {"category": "service", "subject": "Rude usher", "description": "门口的服务员很凶"}
    r = await client.post("/v1/tickets", json=body, headers=me.headers)
    assert r.status_code == 201, r.text
    return me, r.json()["id"]


async def shipment_of(rt: Runtime, order_id: str) -> fulfillment.Shipment:
    async with rt.sessions() as s:
        shipment = await s.scalar(
            select(fulfillment.Shipment).where(fulfillment.Shipment.order_id == order_id)
        )
        assert shipment is not None
        return shipment


async def test_survey_leaves_after_the_ticket_row_is_released(
    sms_rt: Runtime, twilio: TwilioServer, sms_client: Any
) -> None:
    agent = await make_agent(sms_rt)
    as_agent = Principal("agent", agent.id, frozenset(agent.roles))
    dsn = sms_rt.settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    lockable: list[bool] = []

    def ticket_row_free(text: Text) -> None:
        """In the provider, while our POST is open: can another connection lock the row?
        Only the survey counts: the relay may also send an earlier test's due text."""
        if text.to != me.phone:
            return
        with psycopg.connect(dsn) as conn:
            try:
                conn.execute("SELECT id FROM tickets WHERE id = %s FOR UPDATE NOWAIT", (tid,))
                lockable.append(True)
            except psycopg.errors.LockNotAvailable:
                lockable.append(False)

    def resolve(ticket_id: str) -> Action:
        async def act(session: AsyncSession) -> None:
            now = sms_rt.clock.now()
            ticket = await session.get(Ticket, ticket_id)
            if ticket is not None and ticket.status == "new":
                await ticketing.transition(session, ticket_id, as_agent, to="open", now=now)
            await ticketing.transition(
                session, ticket_id, as_agent, to="resolved", now=now, sms=services(sms_rt).sms
            )

        return act

    me, tid = await open_ticket(sms_client, sms_rt)
    twilio.on_send = ticket_row_free
    try:
        text = await sent_after_commit(sms_rt, twilio, me.phone, resolve(tid))
    finally:
        twilio.on_send = None
    assert lockable == [True]
    assert "Reply 1-5" in text.body
    await status_moves_row(sms_client, sms_rt, twilio, text)
    other, other_tid = await open_ticket(sms_client, sms_rt)
    await nothing_on_rollback(sms_rt, twilio, other.phone, resolve(other_tid))


class FailsToFulfil(StubOrders):
    async def mark(self, session: AsyncSession, order_id: str, to: str, *, now: Any) -> None:
        if to == "fulfilled":
            raise Abort("the order could not move")
        await super().mark(session, order_id, to, now=now)


async def test_eticket_goes_through_the_same_path(
    sms_rt: Runtime, twilio: TwilioServer, sms_client: Any
) -> None:
    await only_partner(sms_rt, kind="eticket", cost=0)
    orders = StubOrders()
    # the worker's wiring (its SMS port is the composition's) with the orders stand-in
    ctx = build_services(sms_rt, fulfillment_orders=orders).fulfillment
    snap = orders.paid("eticket", "en")
    assert await fulfillment.handle_order_paid(ctx, snap.order_id) == 1
    phone = snap.recipient_phone
    shipment = await shipment_of(sms_rt, snap.order_id)
    assert await fulfillment.dispatch(ctx, shipment.id) == "dispatched"
    # Delivered as soon as the text is queued, in the same transaction; the provider has
    # heard nothing yet: the sms.send job texts it after that commit.
    shipment = await shipment_of(sms_rt, snap.order_id)
    assert shipment.status == "delivered" and (snap.order_id, "fulfilled") in orders.marks
    assert twilio.to(phone) == [] and [m.status for m in await messages(sms_rt, phone)] == [
        "queued"
    ]
    await relay(sms_rt)
    [text] = twilio.to(phone)
    assert "your e-tickets" in text.body and "C-1" in text.body
    [row] = await messages(sms_rt, phone)
    assert (row.status, row.provider_message_id, row.purpose) == ("sent", text.sid, "eticket")
    await status_moves_row(sms_client, sms_rt, twilio, text)

    # The dispatch's transaction rolls back (the order could not move): no text is queued.
    failing = FailsToFulfil()
    ctx = build_services(sms_rt, fulfillment_orders=failing).fulfillment
    snap = failing.paid("eticket", "zh")
    assert await fulfillment.handle_order_paid(ctx, snap.order_id) == 1
    shipment = await shipment_of(sms_rt, snap.order_id)
    with pytest.raises(Abort):
        await fulfillment.dispatch(ctx, shipment.id)
    await relay(sms_rt)
    assert twilio.to(snap.recipient_phone) == [] and await messages(sms_rt, phone) != []
    assert await messages(sms_rt, snap.recipient_phone) == []
