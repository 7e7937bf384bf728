"""The customer web shop in Chromium at a phone's viewport (390x844) against a live server on
PostgreSQL, Redis and localstripe: browse without JavaScript in both languages, enroll by an
SMS code, book two seats, pay by card and see the e-ticket's QR code; a courier order paid
from the phone account; 3-D Secure and a declined card; an expired hold; a double tap making
one order; CSRF; another customer's order by URL. Screenshots go to tests/e2e/screenshots/shop.
"""

from __future__ import annotations

import re
import threading
import uuid
from datetime import timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Page

import auth
import ticketing
from core.principal import Principal
from tests.e2e.shop.conftest import PHONE, PIN, Shop, Weigh, phone_context, shot, sign_in

PAID = ("paid", "fulfilling", "fulfilled")
BUDGET = 100 * 1024  # bytes a page may transfer before Stripe.js


def _fill_card(page: Page, number: str) -> None:
    page.fill("input[placeholder=number]", number)
    page.fill("input[placeholder=exp_month]", "12")
    page.fill("input[placeholder=exp_year]", "34")  # the stand-in prefixes "20"
    page.fill("input[placeholder=cvc]", "123")
    page.fill("input[placeholder=postal_code]", "200000")


def _text(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text().replace("\xa0", " ")


def _book(page: Page, shop: Shop, kind: str, qty: int, *, courier: str = "") -> None:
    """From the offer page to the order page (steps 1-2); the double tap is its own test."""
    page.goto(f"{shop.url}/shop/offers/{shop.seeded.offers[kind]}")
    page.fill("#qty", str(qty))
    if courier:
        page.check("input[value=courier]")
        page.fill("#address", courier)
    page.click("form.book button")
    page.wait_for_selector("#place")
    page.click("#place")
    page.wait_for_selector("#status")


def test_browsing_works_without_javascript_in_both_languages(browser: Browser, shop: Shop) -> None:
    for lang in ("en", "zh"):
        ctx = phone_context(browser, lang, js=False)
        page = ctx.new_page()
        weight = Weigh(page)
        page.goto(f"{shop.url}/shop/")
        assert weight.total < BUDGET, (weight.total, weight.urls)
        assert page.locator("h1").inner_text() == ("Find tickets" if lang == "en" else "找票")
        assert page.locator("#offers li").count() == 4
        shot(page, f"01-offers-{lang}")
        page.click("nav.chips a[href*='kind=train']")  # a plain link, no script
        assert page.locator("#offers li").count() == 1
        page.fill("#q", shop.seeded.codes["flight"].lower())  # search by code
        page.select_option("#kind", "")
        page.click("form.search button")
        assert page.locator("#offers li").count() == 1
        page.click("#offers li a")
        facts = page.locator("dl.facts").inner_text()
        assert ("PVG → PEK" in facts) and "1,200.00" in facts and "50" in facts
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", facts), facts  # business zone time
        shot(page, f"02-offer-{lang}")
        weight.reset()
        page.goto(f"{shop.url}/shop/sign-in")  # signing in needs no script either
        assert weight.total < BUDGET
        page.fill("#phone", shop.seeded.phone)
        page.fill("#pin", "999999")
        page.click("button[type=submit]")
        assert page.locator("#form-error").is_visible()  # same words for unknown and wrong
        shot(page, f"03-sign-in-wrong-{lang}")
        page.fill("#pin", PIN)
        page.click("button[type=submit]")
        page.goto(f"{shop.url}/shop/orders")
        assert page.locator("h1").inner_text() == ("My orders" if lang == "en" else "我的订单")
        ctx.close()
    wide = browser.new_context(viewport={"width": 1280, "height": 800}, java_script_enabled=False)
    page = wide.new_page()
    page.goto(f"{shop.url}/shop/")  # the same page on a desktop: two columns of offers
    shot(page, "00-offers-desktop-en")
    wide.close()


def test_enroll_by_sms_book_two_seats_pay_by_card_and_see_the_qr(
    browser: Browser, shop: Shop
) -> None:
    phone = f"+86138{uuid.uuid4().int % 10**8:08d}"
    ctx = phone_context(browser, "en")
    page = ctx.new_page()
    weight = Weigh(page)
    page.goto(f"{shop.url}/shop/offers/{shop.seeded.offers['event']}")
    page.fill("#qty", "2")
    page.click("form.book button")  # not signed in: the sign-in page, then back here
    page.click("a[href^='/shop/code']")
    page.fill("#phone", phone)
    page.click("button[type=submit]")
    page.wait_for_selector("#code")
    shot(page, "04-code-en")
    page.fill("#code", shop.last_code(phone))
    page.fill("#pin", PIN)
    page.fill("#pin2", PIN)
    page.click("button[type=submit]")
    page.wait_for_selector("#place")  # back on the confirmation, signed in
    bill = _text(page, "table.bill")
    assert "2 × CNY" in bill and "Booking fee" in bill and "CNY 1,365.00" in bill, bill
    shot(page, "05-confirm-en")
    weight.reset()
    page.click("#place")
    page.wait_for_selector("#status[data-status=awaiting_payment]")
    assert weight.total < BUDGET, (weight.total, weight.urls)
    assert re.fullmatch(r"1[45]:\d\d", page.locator("[data-deadline]").inner_text())
    shot(page, "06-order-held-en")
    weight.reset()
    page.click("#pay-card")
    page.wait_for_selector("#card iframe, #card input", state="attached")
    assert weight.total < BUDGET, (weight.total, weight.urls)  # Stripe.js left out
    assert "Pay order" in page.title()
    assert page.url in shop.last_sms(phone, "pay_link")  # the SMS's link is this page
    assert _text(page, "#amount") == "CNY 1,365.00"
    shot(page, "07-pay-en")
    _fill_card(page, "4242424242424242")
    page.click("#pay")
    page.wait_for_selector("#result[data-status=succeeded]", timeout=20_000)
    shot(page, "08-paid-en")
    page.click("#after a")
    page.wait_for_selector("#qr svg")  # paid, or already fulfilling: the ticket is shown
    assert page.locator("#status").get_attribute("data-status") in PAID
    shot(page, "09-eticket-en")
    assert [o[1] in PAID for o in shop.orders_of(phone)] == [True]
    ctx.close()


def test_courier_order_paid_from_the_phone_account_in_chinese(browser: Browser, shop: Shop) -> None:
    ctx = phone_context(browser, "zh")
    page = ctx.new_page()
    sign_in(page, shop, shop.seeded.phone)
    _book(page, shop, "train", 1, courier="上海市黄浦区中山东一路 1 号")
    assert "快递" in page.locator("table.bill").inner_text()
    page.fill("#pin", "135799")  # wrong PIN: nothing charged, said plainly
    page.click("#pay-phone")
    page.wait_for_selector("p.error")
    shot(page, "10-phone-pay-wrong-pin-zh")
    page.fill("#pin", PIN)
    page.click("#pay-phone")
    page.wait_for_selector("#status[data-status=paid], #status[data-status=fulfilling]")
    for _ in range(40):  # the relay hands the paid order to the courier: its tracking shows
        if page.locator("#ship-h").count() and "TN-" in page.locator("main").inner_text():
            break
        page.wait_for_timeout(250)
        page.reload()
    assert "TN-" in page.locator("main").inner_text()
    shot(page, "11-courier-paid-zh")
    page.goto(f"{shop.url}/shop/orders")
    shot(page, "12-my-orders-zh")
    ctx.close()


def test_three_d_secure_and_declined_cards(browser: Browser, shop: Shop) -> None:
    ctx = phone_context(browser, "en")
    page = ctx.new_page()
    sign_in(page, shop, shop.seeded.phone)
    _book(page, shop, "flight", 1)
    page.click("#pay-card")
    page.wait_for_selector("#card input", state="attached")
    _fill_card(page, "4000000000000341")
    page.click("#pay")
    page.wait_for_selector("#result[data-status=failed]", timeout=20_000)
    assert "declined" in page.locator("#result").inner_text()
    assert page.locator("#retry a").is_visible()
    shot(page, "13-declined-en")
    page.click("#retry a")  # back to the order, still held: another card, a new attempt
    page.click("#pay-card")
    page.wait_for_selector("#card input", state="attached")
    _fill_card(page, "4000002500003155")
    page.click("#pay")
    result = page.locator("#result[data-status=succeeded]")
    for _ in range(4):  # one modal for the SetupIntent, one for the PaymentIntent
        button = page.get_by_role("button", name="Complete authentication")
        try:
            button.wait_for(timeout=5_000)
        except Exception:
            break
        button.click()
        if result.count():
            break
    page.wait_for_selector("#result[data-status=succeeded]", timeout=20_000)
    ctx.close()


def test_an_expired_hold_is_a_page_with_the_next_step(browser: Browser, shop: Shop) -> None:
    ctx = phone_context(browser, "zh")
    page = ctx.new_page()
    sign_in(page, shop, shop.seeded.phone)
    _book(page, shop, "hotel", 1)
    page.click("#pay-card")
    page.wait_for_selector("#card input", state="attached")
    assert "支付订单" in page.title() and "保留至" in page.locator("p.hold").inner_text()
    shot(page, "07-pay-zh")
    pay_url = page.url
    order_url = page.locator("#after a").get_attribute("href")
    shop.clock.advance(timedelta(minutes=shop.settings.hold_minutes + 1))
    try:
        response = page.goto(pay_url)
        assert response is not None and response.status == 409
        assert page.locator("section.problem[data-status=not_payable]").is_visible()
        assert page.locator("#card").count() == 0
        shot(page, "14-expired-zh")
        page.goto(f"{shop.url}{order_url}")  # the order says so too, with no pay buttons
        assert "保留时间已过" in page.locator("p.problem").inner_text()
        assert page.locator("#pay-card").count() == 0
        shot(page, "15-expired-order-zh")
    finally:
        shop.clock.reset()
    ctx.close()


def test_a_double_tap_makes_one_order_and_a_foreign_form_is_refused(
    browser: Browser, shop: Shop
) -> None:
    ctx = phone_context(browser, "en")
    page = ctx.new_page()
    sign_in(page, shop, shop.seeded.phone)
    page.goto(f"{shop.url}/shop/offers/{shop.seeded.offers['event']}/confirm?qty=1")
    form = {
        el.get_attribute("name"): el.get_attribute("value") or ""
        for el in page.locator("form.once input[type=hidden]").all()
    }
    before = len(shop.orders_of(shop.seeded.phone))
    answers: list[httpx.Response] = []

    cookies = {c["name"]: c["value"] for c in ctx.cookies()}  # Playwright is one thread's

    def tap() -> None:
        with httpx.Client(base_url=shop.url, cookies=cookies, timeout=20) as http:
            answers.append(http.post("/shop/orders", data=form))

    taps = [threading.Thread(target=tap) for _ in range(3)]
    for t in taps:
        t.start()
    for t in taps:
        t.join()
    places = {a.headers.get("location") for a in answers}
    assert [a.status_code for a in answers] == [303, 303, 303] and len(places) == 1, answers
    assert len(shop.orders_of(shop.seeded.phone)) == before + 1
    with httpx.Client(
        base_url=shop.url, cookies=cookies, timeout=20
    ) as http:  # no CSRF token: another site's form
        refused = http.post("/shop/orders", data={**form, "_csrf": "forged"})
    assert refused.status_code == 403 and 'data-slug="csrf"' in refused.text
    assert len(shop.orders_of(shop.seeded.phone)) == before + 1
    page.goto(shop.url + str(places.pop()))  # the held order can be cancelled: seats go back
    page.click("#cancel")
    page.wait_for_selector("#status[data-status=cancelled]")
    assert page.locator("#cancel").count() == 0 and page.locator("#pay-card").count() == 0
    ctx.close()


def test_another_customers_order_is_not_found(browser: Browser, shop: Shop) -> None:
    mine = shop.orders_of(shop.seeded.phone)[0][0]
    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    ctx = phone_context(browser, "zh")
    page = ctx.new_page()
    page.goto(f"{shop.url}/shop/code")
    page.fill("#phone", phone)
    page.click("button[type=submit]")
    page.fill("#code", shop.last_code(phone))
    page.fill("#pin", "975310")
    page.fill("#pin2", "975310")
    page.click("button[type=submit]")
    response = page.goto(f"{shop.url}/shop/orders/{mine}")
    assert response is not None and response.status == 404
    assert page.locator("section.problem").is_visible()
    shot(page, "15-not-yours-zh")
    ctx.close()


def _agent(shop: Shop) -> tuple[str, str]:
    async def make(rt: Any) -> tuple[str, str]:
        async with rt.sessions() as s, s.begin():
            agent = await auth.create_agent(
                rt,
                s,
                username=f"agent{uuid.uuid4().hex[:6]}",
                password="shop-agent-2026",
                display_name="Wang Fang",
                roles=["agent"],
            )
        return agent.id, agent.username

    return shop.db(make)


def _answer(shop: Shop, ticket_id: str, agent_id: str, body: str, *, public: bool) -> None:
    async def write(rt: Any) -> None:
        async with rt.sessions() as s, s.begin():
            await ticketing.add_comment(
                s,
                ticket_id,
                Principal("agent", agent_id, frozenset({"agent"})),
                body=body,
                public=public,
                now=rt.clock.now(),
            )

    shop.db(write)


def test_a_complaint_opens_a_ticket_whose_public_replies_the_customer_answers(
    browser: Browser, shop: Shop
) -> None:
    agent_id, username = _agent(shop)
    ctx = phone_context(browser, "zh")
    page = ctx.new_page()
    sign_in(page, shop, shop.seeded.phone)
    page.goto(f"{shop.url}/shop/orders")
    page.click(".cards li a")
    page.click("a[href$='/complaint']")
    page.select_option("#category", "delivery")
    page.fill("#description", "快递三天还没到，请帮忙查一下。")
    page.click("form.once button")
    page.wait_for_selector("#replies")
    ticket_id = page.url.rsplit("/", 1)[1].split("#")[0]
    _answer(shop, ticket_id, agent_id, "已联系快递公司，明天送达。", public=True)
    _answer(shop, ticket_id, agent_id, "internal: partner slow this week", public=False)
    page.reload()
    thread = page.locator("ol.thread").inner_text()
    assert "明天送达" in thread and "internal" not in thread
    page.fill("#body", "谢谢！")
    page.click("form.narrow button")
    page.wait_for_selector("ol.thread li.mine")
    shot(page, "16-complaint-thread-zh")
    # a customer's session opens no console page, and an agent's is no shop session
    page.goto(f"{shop.url}/console/")
    assert "/console/sign-in" in page.url
    agent = ctx.browser.new_context(viewport=PHONE) if ctx.browser else None
    assert agent is not None
    console = agent.new_page()
    console.goto(f"{shop.url}/console/sign-in")
    console.fill("#username", username)
    console.fill("#password", "shop-agent-2026")
    console.click("button[type=submit]")
    console.wait_for_selector("nav[aria-label]")
    console.goto(f"{shop.url}/shop/orders")
    assert "/shop/sign-in" in console.url
    agent.close()
    ctx.close()


def test_account_language_and_pin_change(browser: Browser, shop: Shop) -> None:
    phone = f"+86136{uuid.uuid4().int % 10**8:08d}"
    ctx = phone_context(browser, "zh")
    page = ctx.new_page()
    page.goto(f"{shop.url}/shop/code?next=/shop/account")
    page.fill("#phone", phone)
    page.click("button[type=submit]")
    page.fill("#code", shop.last_code(phone))
    page.fill("#pin", "864208")
    page.fill("#pin2", "864208")
    page.click("button[type=submit]")
    page.wait_for_selector("#lang")
    page.select_option("#lang", "en")
    page.click("form[action$='/language'] button")
    assert page.locator("h1").inner_text() == "Account"  # the cookie follows at once
    page.fill("#current_pin", "111111")
    page.fill("#new_pin", "947261")
    page.fill("#new_pin2", "947261")
    page.click("form[action$='/pin'] button")
    assert "not right" in page.locator("p.error").inner_text()
    page.fill("#current_pin", "864208")
    page.fill("#new_pin", "947261")
    page.fill("#new_pin2", "947261")
    page.click("form[action$='/pin'] button")
    page.wait_for_selector("p.ok")  # still signed in here with the new PIN's version
    shot(page, "17-account-en")
    page.click("footer button")  # sign out
    sign_in(page, shop, phone, "947261", next="/shop/account")
    page.wait_for_selector("#lang")
    ctx.close()
