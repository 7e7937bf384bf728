"""What the IVR does for a caller whose PIN was right (api/voice_flow.py): 1 the latest
order's status, 2 pay an unpaid order from the phone account, 3 resend the e-ticket, 4 open
complaints. Here because 2 and 3 reach payments and fulfillment, which ticketing may not."""

from __future__ import annotations

import structlog

import commerce
import fulfillment
import payments
import ticketing
from api.voice_call import Call
from api.voice_prompts import ORDER_STATUS, TICKET_STATUS, amount, say, spelled, word
from api.voice_twiml import Plan
from core.errors import ValidationFailed
from core.principal import Principal

log = structlog.get_logger("hotline.voice")


async def serve(c: Call, choice: str, r: Plan) -> Plan:
    """Do what the verified caller chose, then offer the menu again."""
    if choice == "1":
        await order_status(c, r)
    elif choice == "2":
        if await offer_payment(c, r):
            return r
    elif choice == "3":
        await resend_eticket(c, r)
    elif choice == "4":
        await complaints(c, r)
    c.gather(r, "menu", "menu")
    return r


def _customer(c: Call) -> Principal:
    assert c.state.verified_id is not None
    return Principal("customer", c.state.verified_id, via="phone")


async def order_status(c: Call, r: Plan) -> None:
    page = await commerce.list_orders(c.session, _customer(c), limit=1)
    if not page.items:
        c.say(r, "no_orders")
    else:
        order = page.items[0]
        c.say(
            r,
            "order_status",
            number=spelled(order.number),
            title=order.items[0].title if order.items else "",
            status=word(ORDER_STATUS, c.lang, order.status),
        )
    await c.step("done:order-status")


async def offer_payment(c: Call, r: Plan) -> bool:
    """Offer the newest unpaid order; True when a Gather waits for "1 to pay"."""
    page = await commerce.list_orders(
        c.session, _customer(c), status=commerce.OrderStatus.AWAITING_PAYMENT, limit=1
    )
    if not page.items:
        c.say(r, "no_unpaid")
        await c.step("done:no-unpaid")
        return False
    order = page.items[0]
    c.state.pay_order_id = order.id
    await c.step("pay:offered")
    c.gather(
        r,
        "pay",
        "pay_offer",
        number=spelled(order.number),
        title=order.items[0].title if order.items else "",
        amount=amount(c.lang, order.total, order.currency),
    )
    return True


async def pay(c: Call, digits: str) -> Plan:
    """ "1" pays the offered order from the phone account: payments.start_payment, the code of
    POST /v1/orders/{id}/payments with carrier_billing, keyed by CallSid + order so a retried
    webhook charges once. Anything else goes back to the menu."""
    r = Plan()
    order_id, c.state.pay_order_id = c.state.pay_order_id, None
    if digits[:1] != "1" or order_id is None or c.state.verified_id is None:
        await c.step("pay:back")
        c.gather(r, "menu", "menu")
        return r
    deps = c.services.payments
    try:
        async with c.session.begin_nested():  # a refusal leaves no half-made payment behind
            p = await payments.start_payment(
                c.session,
                deps,
                order_id,
                payments.domain.CARRIER,
                principal=_customer(c),
                request_key=f"ivr:{c.call_sid}:{order_id}",
                now=c.services.runtime.clock.now(),
            )
    except payments.InsufficientCredit:
        c.say(r, "insufficient_credit")
        await c.step("pay:insufficient-credit")
    except payments.AlreadyPaid:
        c.say(r, "already_paid")
        await c.step("pay:already-paid")
    except (payments.OrderNotPayable, payments.PayLinkExpired, ValidationFailed) as exc:
        log.info("voice payment refused", call_sid=c.call_sid, reason=type(exc).__name__)
        c.say(r, "not_payable")
        await c.step("pay:not-payable")
    except Exception as exc:  # a state the phone cannot explain (InvalidTransition...)
        if getattr(exc, "status", 500) >= 500:
            raise
        c.say(r, "not_payable")
        await c.step("pay:not-payable")
    else:
        order = await commerce.get_order(c.session, order_id)
        c.say(
            r,
            "paid",
            number=spelled(order.number),
            amount=amount(c.lang, p.amount, p.currency),
        )
        await c.step("done:paid")
    c.gather(r, "menu", "menu")
    return r


async def resend_eticket(c: Call, r: Plan) -> None:
    assert c.state.verified_id is not None
    resent = await fulfillment.resend_latest_eticket(c.session, c.services.sms, c.state.verified_id)
    if resent is None:
        c.say(r, "no_eticket")
        await c.step("done:no-eticket")
        return
    c.say(r, "eticket_resent", number=spelled(resent.order_number))
    await c.step("done:eticket-resent")


async def complaints(c: Call, r: Plan) -> None:
    assert c.state.verified_id is not None
    tickets = await ticketing.open_complaints(c.session, c.state.verified_id)
    if not tickets:
        c.say(r, "no_complaints")
    else:
        items = "".join(
            say(
                c.lang,
                "complaint",
                number=spelled(t.number),
                status=word(TICKET_STATUS, c.lang, t.status),
            )
            + " "
            for t in tickets
        )
        c.say(r, "complaints", count=len(tickets), items=items.strip())
    await c.step("done:complaints")
