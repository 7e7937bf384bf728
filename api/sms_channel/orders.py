"""BOOK, PAY, CARD, STATUS, CANCEL and TICKET: the rooms' own use cases, called in the
handling transaction (api.sms_channel.inbound), so what a text does commits with its stored
reply and a retried MessageSid changes nothing twice. Nothing here calls the network: the pay
link and the e-tickets are queued SMS, carrier billing is a ledger move.

The PIN of PAY and CANCEL was checked before any of this (api.sms_channel.pin)."""

from __future__ import annotations

from typing import Any

import commerce
import fulfillment
import payments
from commerce import DeliveryMethod, LineRequest, Order, OrderStatus, OrderSummary
from core.db import is_postgres
from core.errors import Busy, InvalidTransition, NotFound, ValidationFailed

from .context import Answer, Turn
from .ordering import driver
from .texts import amount, local_time, status_name, text

RECENT = 3  # orders STATUS lists without a number: one segment's worth
UNPAID = OrderStatus.AWAITING_PAYMENT.value
FINAL = {s.value for s in (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REFUNDED)}


async def _order(turn: Turn, number: str | None) -> Order | None:
    """The customer's order by number, or their latest one."""
    page = await commerce.list_orders(
        turn.session, turn.principal, number=number, limit=1 if number else RECENT
    )
    return page.items[0] if page.items else None


def _no_order(turn: Turn, number: str | None) -> Answer:
    if number is None:
        return Answer(turn.say("no_orders"), "no_order")
    return Answer(turn.say("no_order", number=number), "no_order")


async def book(turn: Turn) -> Answer:
    cmd = turn.command
    assert cmd.code is not None and cmd.quantity is not None
    try:
        offer = await commerce.find_offer_by_code(turn.session, cmd.code)
    except NotFound:
        return Answer(turn.say("no_offer", code=cmd.code), "no_offer")
    courier = cmd.address is not None
    try:
        placed = await turn.services.placement.place_in(
            turn.session,
            now=turn.now,
            customer_id=turn.customer.id,
            lines=[LineRequest(offer.id, cmd.quantity)],
            delivery_method=(DeliveryMethod.COURIER if courier else DeliveryMethod.E_TICKET).value,
            delivery_address=cmd.address[:500] if cmd.address else None,
            actor=turn.actor,
            channel="sms",
        )
    except commerce.SoldOut:
        return Answer(turn.say("sold_out", code=offer.code), "sold_out")
    except ValidationFailed:
        return Answer(turn.say("usage_book"), "invalid")
    zone = turn.services.runtime.settings.zone
    reply = turn.say(
        "booked",
        number=placed.number,
        until=local_time(placed.hold_expires_at, zone),
        subtotal=amount(placed.subtotal),
        booking=amount(placed.booking_fee),
        delivery=amount(placed.delivery_fee),
        total=amount(placed.total),
        currency=placed.currency,
    )
    return Answer(reply, "held", order_id=placed.id)


async def pay(turn: Turn, method: str) -> Answer:
    number = turn.command.order
    order = await _order(turn, number)
    if order is None:
        return _no_order(turn, number)
    values = {"number": order.number}
    try:
        payment = await payments.start_payment(
            turn.session,
            turn.services.payments,
            order.id,
            method,
            principal=turn.principal,
            request_key=turn.key(method),
            now=turn.now,
        )
    except payments.InsufficientCredit:
        return Answer(turn.say("no_credit", **values), "no_credit", order.id)
    except payments.AlreadyPaid:
        return Answer(turn.say("already_paid", **values), "already_paid", order.id)
    except InvalidTransition:
        status = status_name(order.status, turn.language)
        return Answer(turn.say("not_payable", status=status, **values), "not_payable", order.id)
    except ValidationFailed:  # cards not configured in this deployment
        return Answer(turn.say("cards_off"), "cards_off", order.id)
    if method == "card":
        return Answer(turn.say("link_sent", **values), "pay_link_sent", order.id)
    total = amount(payment.amount)
    return Answer(
        turn.say("paid", total=total, currency=payment.currency, **values),
        f"payment_{payment.status}",
        order.id,
    )


async def status(turn: Turn) -> Answer:
    number = turn.command.order
    if is_postgres(turn.session):  # on the transaction's asyncpg connection (ordering.driver)
        return await status_on(await driver(turn.session), turn.customer.id, number, turn.language)
    found = await commerce.order_summaries(
        turn.session, turn.customer.id, number=number, limit=1 if number else RECENT
    )
    return status_answer(found, number, turn.language)


async def status_on(pg: Any, customer_id: str, number: str | None, language: str) -> Answer:
    """STATUS on an asyncpg connection (the handling transaction's, or the read-only path's:
    api.sms_channel.read_only)."""
    limit = 1 if number else RECENT
    found = await commerce.order_summaries_on(pg, customer_id, number=number, limit=limit)
    return status_answer(found, number, language)


def status_answer(found: list[OrderSummary], number: str | None, language: str) -> Answer:
    if not found:
        if number is None:
            return Answer(text("no_orders", language), "no_order")
        return Answer(text("no_order", language, number=number), "no_order")
    if number is not None:
        return Answer(_line(language, found[0], full=True), "status", found[0].id)
    lines = [_line(language, o, full=False) for o in found]
    return Answer(("\n" if language == "en" else "；").join(lines), "status")


def _line(language: str, order: OrderSummary, *, full: bool) -> str:
    name = status_name(order.status, language)
    if full:
        return text(
            "status_one",
            language,
            number=order.number,
            status=name,
            total=amount(order.total),
            currency=order.currency,
        )
    return f"{order.number} {name} {amount(order.total)}"


async def cancel(turn: Turn) -> Answer:
    number = turn.command.order
    order = await _order(turn, number)
    if order is None:
        return _no_order(turn, number)
    was = order.status
    if was in FINAL:  # commerce takes a repeated cancel as done; the customer should know
        name = status_name(was, turn.language)
        return Answer(
            turn.say("cannot_cancel", number=order.number, status=name), "not_cancellable", order.id
        )
    try:
        await commerce.cancel_order(
            turn.session,
            order.id,
            turn.principal,
            reason="cancelled by SMS",
            channel="sms",
            now=turn.now,
        )
    except (InvalidTransition, Busy):
        name = status_name(was, turn.language)
        return Answer(
            turn.say("cannot_cancel", number=order.number, status=name), "not_cancellable", order.id
        )
    refund = "" if was == UNPAID else turn.say("refund_note")
    return Answer(turn.say("cancelled", number=order.number, refund=refund), "cancelled", order.id)


async def resend_ticket(turn: Turn) -> Answer:
    number = turn.command.order
    page = await commerce.list_orders(
        turn.session, turn.principal, number=number, limit=1 if number else RECENT
    )
    for order in page.items:
        if await fulfillment.resend_eticket(turn.session, turn.services.sms, order.id):
            return Answer(turn.say("eticket_resent", number=order.number), "resent", order.id)
    return Answer(turn.say("no_eticket"), "no_eticket")
