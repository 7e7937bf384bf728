"""The call center's day as bench/day.py drives it: each flow is what one person (or one
partner system) does, as the requests they send, each request timed under its route name.

A flow stops at its first failed request (a real client would too); the failure is counted
as an error of that route.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from api.voice_demo import Caller, new_call_sid
from bench.rush import Connection
from bench.voice import MENU_CALL, step_request
from fulfillment.domain import sign
from tests.auth_fixtures import TestAgent, TestCustomer
from tests.integration.payments.helpers import event, signed

ADDRESS = "上海市徐汇区漕溪北路1111号"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
IDLE_LIMIT = 3.0  # seconds a pooled connection is reused after its last answer
NUMBER = re.compile(r"(?<![A-Z0-9])[A-HJKMNP-Z2-9]{8}(?![A-Z0-9])")  # an order number


class Http(Connection):
    """bench/rush.py's keep-alive client, also reading chunked bodies (CSV exports stream)
    and returning the head (a form post answers 303 with a Location)."""

    used = 0.0  # when it last answered; uvicorn closes a connection idle for 5 s

    async def call(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, bytes, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            if not any(k.lower() == "content-type" for k in headers):
                lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if length:
            return status, head, await self.reader.readexactly(int(length.group(1)))
        if re.search(rb"(?i)\r\ntransfer-encoding: *chunked", head):
            data = b""
            while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                data += await self.reader.readexactly(size + 2)
                data = data[:-2]
            await self.reader.readuntil(b"\r\n")
            return status, head, data
        return status, head, b""


@dataclass
class Sample:
    step: int
    route: str
    started: float
    seconds: float
    status: int  # 0: the connection failed
    ok: bool


@dataclass
class Day:
    """Everything the flows share: the people, the offers, what happened so far."""

    urls: list[str]
    customers: list[TestCustomer]
    agent: TestAgent
    finance: TestAgent
    shoppers: list[tuple[TestCustomer, str, str]]  # customer, session cookie, CSRF token
    offers: list[str]
    sms_code: str
    public: str
    twilio_token: str
    stripe_url: str
    stripe_secret: str
    partner_code: str
    partner_secret: str
    today: str
    intent_of: Callable[[str], Awaitable[str]]  # payment id -> its PaymentIntent (our books)
    samples: list[Sample] = field(default_factory=list)
    paid: dict[str, tuple[int, float]] = field(default_factory=dict)  # courier order: step, when
    dispatched: deque[str] = field(default_factory=deque)  # shipments the partner accepted
    idle: dict[str, list[Http]] = field(default_factory=dict)
    turn: int = 0
    step: int = 0

    async def send(
        self,
        route: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
        ok: tuple[int, ...] = (200, 201),
    ) -> tuple[bytes, bytes] | None:
        """One request through the load balancer (round robin over the APIs); None when it
        failed, after counting it."""
        self.turn += 1
        url = self.urls[self.turn % len(self.urls)]
        pool = self.idle.setdefault(url, [])
        conn = pool.pop() if pool else Http(url)
        if conn.used and time.monotonic() - conn.used > IDLE_LIMIT:  # the server hung up
            conn.close()
            conn = Http(url)
        step, t0 = self.step, time.perf_counter()
        try:
            status, head, data = await asyncio.wait_for(conn.call(method, path, headers, body), 30)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            self.samples.append(Sample(step, route, t0, time.perf_counter() - t0, 0, False))
            return None
        good = status in ok
        self.samples.append(Sample(step, route, t0, time.perf_counter() - t0, status, good))
        conn.used = time.monotonic()
        pool.append(conn)
        return (head, data) if good else None


def as_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def order_body(day: Day, **extra: Any) -> bytes:
    offer = random.choice(day.offers)
    items = [{"offer_id": offer, "quantity": 1}]
    return as_json({"items": items, "delivery": {"method": "courier", "address": ADDRESS}, **extra})


async def agent_books(day: Day, method: str) -> tuple[str, dict[str, Any]] | None:
    """An agent takes a call: checks the PIN the caller reads out, books, starts a payment."""
    c = random.choice(day.customers)
    got = await day.send(
        "agent: verify caller", "POST", "/v1/callers/verify", day.agent.headers,
        as_json({"phone": c.phone, "pin": c.pin}),
    )  # fmt: skip
    if got is None:
        return None
    check = json.loads(got[1])["verification_id"]
    key = {**day.agent.headers, "Idempotency-Key": uuid.uuid4().hex}
    body = order_body(day, customer_id=c.id, verification_id=check)
    got = await day.send("agent: place order", "POST", "/v1/orders", key, body)
    if got is None:
        return None
    order_id = json.loads(got[1])["id"]
    step, sent = day.step, time.time()
    path = f"/v1/orders/{order_id}/payments"
    route = "agent: carrier billing" if method == "carrier_billing" else "agent: send pay link"
    got = await day.send(route, "POST", path, key, as_json({"method": method}))
    if got is None:
        return None
    if method == "carrier_billing":
        day.paid[order_id] = (step, sent)
    return order_id, json.loads(got[1])


async def phone_order_carrier(day: Day) -> None:
    await agent_books(day, "carrier_billing")


async def card_method(day: Day) -> str:
    """What Stripe.js does in the customer's browser: a PaymentMethod at (local) Stripe."""
    async with httpx.AsyncClient(base_url=day.stripe_url, auth=("sk_test_hotline", "")) as s:
        r = await s.post(
            "/v1/payment_methods",
            data={"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "12",
                  "card[exp_year]": "2034", "card[cvc]": "123"},
        )  # fmt: skip
        return str(r.json()["id"])


async def phone_order_pay_link(day: Day) -> None:
    """The agent texts a pay link; the customer pays by card on the pay page; Stripe then
    sends its webhook for the PaymentIntent (settled already: handled once, re-fetched)."""
    booked = await agent_books(day, "card")
    if booked is None:
        return
    order_id, payment = booked
    page = urlsplit(payment["pay_url"]).path
    method = await card_method(day)
    step, sent = day.step, time.time()
    got = await day.send(
        "pay page: card charge", "POST", f"{page}/charge", {},
        as_json({"payment_method": method}),
    )  # fmt: skip
    if got is None:
        return
    day.paid[order_id] = (step, sent)
    intent = await day.intent_of(payment["id"])  # what Stripe's event names
    body, signature = signed(
        day.stripe_secret,
        event(
            "payment_intent.succeeded", {"id": intent, "metadata": {"payment_id": payment["id"]}}
        ),
    )
    await day.send(
        "stripe webhook", "POST", "/v1/webhooks/stripe", {"Stripe-Signature": signature}, body
    )


def location(head: bytes) -> str:
    found = re.search(rb"(?i)\r\nlocation: *([^\r\n]+)", head)
    return found.group(1).decode() if found else ""


async def web_shop_order(day: Day) -> None:
    """A customer on the phone's browser: the offer list, book, pay from the phone account."""
    c, cookie, csrf = random.choice(day.shoppers)
    jar = {"Cookie": f"hotline_session={cookie}"}
    if await day.send("shop: offer list", "GET", "/shop/", jar) is None:
        return
    offer = random.choice(day.offers)
    form = {"_csrf": csrf, "idempotency_key": uuid.uuid4().hex, "offer_id": offer,
            "qty": "1", "method": "courier", "address": ADDRESS}  # fmt: skip
    got = await day.send(
        "shop: place order",
        "POST",
        "/shop/orders",
        {**jar, **FORM},
        urlencode(form).encode(),
        (303,),
    )
    if got is None:
        return
    page = location(got[0])
    order_id = page.rsplit("/", 1)[-1]
    form = {"_csrf": csrf, "idempotency_key": uuid.uuid4().hex, "pin": c.pin}
    step, sent = day.step, time.time()
    got = await day.send(
        "shop: pay by phone account", "POST", f"{page}/pay/phone", {**jar, **FORM},
        urlencode(form).encode(), (303,),
    )  # fmt: skip
    if got is not None and "pin=wrong" not in location(got[0]):
        day.paid[order_id] = (step, sent)


def text(day: Day, phone: str, body: str) -> tuple[str, str, dict[str, str], bytes]:
    path = "/v1/webhooks/sms"
    params = {"From": phone, "To": "+8610086", "Body": body, "MessageSid": f"SM{uuid.uuid4().hex}"}
    signature = RequestValidator(day.twilio_token).compute_signature(day.public + path, params)
    return "POST", path, {**FORM, "X-Twilio-Signature": signature}, urlencode(params).encode()


async def sms_order(day: Day) -> None:
    """A customer texts BOOK, then PAY with the number from the reply (e-ticket, by SMS)."""
    c = random.choice(day.customers)
    got = await day.send("sms: BOOK", *text(day, c.phone, f"BOOK {day.sms_code} 1"))
    number = NUMBER.search(got[1].decode()) if got else None
    if number is not None:
        await day.send("sms: PAY", *text(day, c.phone, f"PAY {number.group(0)} {c.pin}"))


async def partner_callback(day: Day) -> None:
    """The courier reports a shipment on its way (one it was sent earlier in the run)."""
    if not day.dispatched:
        return
    raw = as_json(
        {"event_id": uuid.uuid4().hex, "shipment_id": day.dispatched.popleft(),
         "status": "in_transit", "occurred_at": datetime.now(UTC).isoformat()}
    )  # fmt: skip
    headers = {"Hotline-Signature": sign(day.partner_secret, raw, int(time.time()))}
    await day.send(
        "partner callback", "POST", f"/v1/webhooks/partners/{day.partner_code}", headers, raw
    )


async def complaint(day: Day) -> None:
    """A customer opens an urgent ticket; an agent answers half of them at once. The rest
    escalate (75%, 90%, breach of a one-minute first response) in the workers' job."""
    c = random.choice(day.customers)
    body = {"category": "service", "priority": "urgent", "subject": "等了很久 waited long",
            "description": "客服电话一直占线 the line was busy"}  # fmt: skip
    got = await day.send("ticket: open", "POST", "/v1/tickets", c.headers, as_json(body))
    if got is not None and random.random() < 0.5:
        ticket = json.loads(got[1])["id"]
        reply = as_json({"body": "已为您处理 we are on it", "public": True})
        await day.send(
            "ticket: agent reply",
            "POST",
            f"/v1/tickets/{ticket}/comments",
            day.agent.headers,
            reply,
        )


async def voice_call(day: Day) -> None:
    """A call through the IVR: menu, a wrong key, a timed-out Gather, 0 for an agent, hang-up."""
    c = random.choice(day.customers)
    signer = Caller(None, public_base=day.public, auth_token=day.twilio_token, phone=c.phone)
    sid = new_call_sid()
    for step, keys in MENU_CALL:
        request = step_request(signer, sid, c.phone, step, keys)
        if await day.send("voice: IVR step", *request, ok=(200, 204)) is None:  # 204: hang-up
            return


async def my_orders(day: Day) -> None:
    c = random.choice(day.customers)
    await day.send("customer: my orders", "GET", "/v1/orders?limit=5", c.headers)


async def finance_export(day: Day) -> None:
    span = f"from={day.today}&to={day.today}"
    if random.random() < 0.5:
        await day.send(
            "finance: daily report", "GET", f"/v1/finance/reports/daily?{span}", day.finance.headers
        )
    else:
        await day.send(
            "finance: ledger CSV", "GET", f"/v1/finance/ledger.csv?{span}", day.finance.headers
        )


# (flow, weight): how often each starts, relative to the others.
MIX: list[tuple[Callable[[Day], Awaitable[None]], float]] = [
    (phone_order_carrier, 3),
    (phone_order_pay_link, 2),
    (web_shop_order, 3),
    (sms_order, 2),
    (partner_callback, 2),
    (complaint, 2),
    (voice_call, 1),
    (my_orders, 3),
    (finance_export, 0.3),
]
