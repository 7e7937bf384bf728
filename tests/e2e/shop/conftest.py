"""One live server for the shop's browser tests: its own PostgreSQL database (the tests move
the server's clock), Redis for sessions and the throttle, localstripe for cards, the loopback
partner as the courier, and the in-process relay and jobs running, as under `make run`.

Playwright's sync API drives one Chromium at a phone's viewport (390x844); setup that needs
the database runs on a fresh loop in a helper thread (tests/e2e/live.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import select

import auth
import commerce
import payments
import ticketing
from core.money import Money
from core.runtime import Runtime
from core.sms import SmsMessage
from fulfillment import PartnerIn, register_partner
from tests.e2e.live import LiveServer, chromium, live_server
from tests.stripe_fixtures import LocalStripe

SHOTS = Path(__file__).resolve().parents[1] / "screenshots" / "shop"
PIN = "246813"
PHONE = {"width": 390, "height": 844}


@dataclass
class Seeded:
    offers: dict[str, str]  # kind -> offer id
    codes: dict[str, str]  # kind -> offer code
    phone: str  # a customer with PIN and a phone account in credit


@dataclass
class Shop(LiveServer):
    seeded: Seeded

    def last_code(self, phone: str) -> str:
        async def read(rt: Runtime) -> str:
            async with rt.sessions() as s:
                body = await s.scalar(
                    select(SmsMessage.body)
                    .where(SmsMessage.to == phone, SmsMessage.purpose == "otp")
                    .order_by(SmsMessage.created_at.desc())
                    .limit(1)
                )
            return str(body).split()[2]  # "Hotline code 123456 (valid 5 minutes)"

        return self.db(read)

    def last_sms(self, phone: str, purpose: str) -> str:
        async def read(rt: Runtime) -> str:
            async with rt.sessions() as s:
                body = await s.scalar(
                    select(SmsMessage.body)
                    .where(SmsMessage.to == phone, SmsMessage.purpose == purpose)
                    .order_by(SmsMessage.created_at.desc())
                    .limit(1)
                )
            return str(body)

        return self.db(read)

    def orders_of(self, phone: str) -> list[Any]:
        async def read(rt: Runtime) -> list[Any]:
            async with rt.sessions() as s:
                c = await auth.find_customer_by_phone(s, phone)
                if c is None:
                    return []
                page = await commerce.list_orders(s, _customer(c.id), limit=50)
                return [(o.id, o.status, o.delivery_method) for o in page.items]

        return self.db(read)


def _customer(customer_id: str) -> Any:
    from core.principal import Principal

    return Principal("customer", customer_id)


async def _seed(runtime: Runtime, courier_url: str) -> Seeded:
    now = runtime.clock.now()
    suffix = uuid.uuid4().hex[:4].upper()
    offers, codes = {}, {}
    rows = [
        ("event", "周杰伦 Jay Chou 2027", "上海体育场 Shanghai Stadium", 40, 68000),
        ("train", "G7 北京南 → 上海虹桥", "Beijing South → Shanghai Hongqiao", 5, 55300),
        ("flight", "MU5101 上海 → 北京", "PVG → PEK", 9, 120000),
        ("hotel", "和平饭店 Peace Hotel", "上海外滩 The Bund", 12, 98000),
    ]
    async with runtime.sessions() as s, s.begin():
        for kind, title, venue, days, price in rows:
            offer = await commerce.create_offer(
                s,
                kind=kind,
                title=title,
                venue=venue,
                starts_at=now + timedelta(days=days),
                price=Money(price, "CNY"),
                capacity=50,
                code=f"{kind[0].upper()}{suffix}",
                currency="CNY",
                now=now,
            )
            offers[kind], codes[kind] = offer.id, offer.code
        phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
        customer = await auth.create_customer(runtime, s, phone=phone, name="李雷")
        await s.flush()
        await auth.service.change_pin(
            runtime,
            s,
            customer,
            PIN,
            gate=auth.build_throttle(runtime),
            address="seed",
            actor="system:test",
            channel="web",
        )
        await payments.top_up(
            s,
            customer.id,
            500_000,
            reference=f"seed:{customer.id}",
            actor="system:test",
            currency="CNY",
            now=now,
        )
        await ticketing.upsert_calendar(
            s,
            name="always",
            zone="Asia/Shanghai",
            hours={d: [(0, 24 * 60)] for d in range(7)},
            holidays=[],
            now=now,
        )
        await ticketing.upsert_queue(
            s,
            code="general",
            name="综合 General",
            calendar_name="always",
            categories=list(ticketing.CATEGORIES),
            supervisor_id=None,
            now=now,
        )
        await register_partner(
            s,
            PartnerIn(
                code="ems",
                name="EMS",
                kind="http",
                endpoint_url=courier_url,
                secret="shop-partner-secret",
                cost_minor=1500,
            ),
            currency="CNY",
            now=now,
        )
    return Seeded(offers, codes, phone)


@pytest.fixture(scope="module")
def shop(localstripe: LocalStripe) -> Iterator[Shop]:
    with live_server(localstripe, "shop", _seed) as live:
        yield Shop(live.url, live.app, live.settings, live.seeded)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def phone_context(browser: Browser, lang: str = "en", *, js: bool = True) -> BrowserContext:
    tag = "zh-CN" if lang == "zh" else "en-GB"
    return browser.new_context(
        viewport=PHONE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=js,
        locale=tag,
        extra_http_headers={"Accept-Language": tag},
    )


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Weigh:
    """Bytes a page transfers (document, stylesheet, scripts), counted from the responses'
    bodies as the browser received them; Stripe.js (localstripe's here) is left out."""

    def __init__(self, page: Page) -> None:
        self.total = 0
        self.urls: list[str] = []
        page.on("response", self._seen)

    def _seen(self, response: Any) -> None:
        if "js.stripe.com" in response.url or response.status in (301, 302, 303):
            return
        try:
            body = response.body()
        except Exception:
            return
        header = sum(len(k) + len(v) + 4 for k, v in response.headers.items())
        self.total += len(body) + header
        self.urls.append(response.url)

    def reset(self) -> None:
        self.total, self.urls = 0, []


def sign_in(page: Page, shop: Shop, phone: str, pin: str = PIN, *, next: str = "") -> None:
    page.goto(f"{shop.url}/shop/sign-in" + (f"?next={next}" if next else ""))
    page.fill("#phone", phone)
    page.fill("#pin", pin)
    page.click("button[type=submit]")
