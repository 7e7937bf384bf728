"""The demo's stand-ins stay in the demo: the demo card gateway (test cards only) is chosen
only in HOTLINE_ENV=demo without a Stripe key and refuses to exist elsewhere; pay links follow
HOTLINE_PORT; start-up names what is on and off."""

from __future__ import annotations

import pytest

from api.composition import card_gateway
from api.startup_report import components
from core.settings import load_settings
from payments import DemoCardGateway, DemoGatewayRefused, GatewayError, StripeGateway

PROD = {
    "HOTLINE_ENV": "production",
    "HOTLINE_SECRET_KEY": "x" * 40,
    "HOTLINE_DATABASE_URL": "postgresql+asyncpg://db/hotline",
    "HOTLINE_REDIS_URL": "redis://cache:6379/0",
    "HOTLINE_SMS_SENDER": "twilio",
    "HOTLINE_TWILIO_ACCOUNT_SID": "AC1",
    "HOTLINE_TWILIO_AUTH_TOKEN": "t",
    "HOTLINE_TWILIO_FROM": "+8613800000000",
}


def test_demo_gateway_only_in_demo_without_a_stripe_key() -> None:
    assert isinstance(card_gateway(load_settings(environ={})), DemoCardGateway)
    assert card_gateway(load_settings(environ={"HOTLINE_ENV": "test"})) is None
    assert card_gateway(load_settings(environ=PROD)) is None
    keyed = load_settings(environ={"HOTLINE_STRIPE_API_KEY": "sk_test_1"})
    assert isinstance(card_gateway(keyed), StripeGateway)
    for env in ("production", "test"):
        with pytest.raises(DemoGatewayRefused):
            DemoCardGateway(env)


async def test_demo_gateway_approves_test_cards_and_declines_the_declining_ones() -> None:
    gw = DemoCardGateway("demo")
    ok = await gw.create_intent(
        amount=7800, currency="cny", payment_method="pm_card_visa", metadata={}, idempotency_key="k"
    )
    assert ok.status == "succeeded" and ok.id.startswith("pi_demo_") and ok.currency == "CNY"
    again = await gw.create_intent(
        amount=7800, currency="cny", payment_method="pm_card_visa", metadata={}, idempotency_key="k"
    )
    assert again == ok  # the same key never charges twice
    for declining in ("pm_card_chargeDeclined", "pm_card_chargeCustomerFail", "pm_1234"):
        with pytest.raises(GatewayError):
            await gw.create_intent(
                amount=100,
                currency="CNY",
                payment_method=declining,
                metadata={},
                idempotency_key=declining,
            )
    refund = await gw.refund(ok.id, amount=7800, metadata={}, idempotency_key="r")
    assert refund.status == "succeeded"
    assert (await gw.retrieve_intent(ok.id)).amount_refunded == 7800
    with pytest.raises(GatewayError):
        await gw.refund(ok.id, amount=1, metadata={}, idempotency_key="r2")


def test_public_base_url_follows_host_and_port() -> None:
    assert load_settings(environ={"HOTLINE_PORT": "9123"}).public_base_url == (
        "http://127.0.0.1:9123"
    )
    wildcard = load_settings(environ={"HOTLINE_HOST": "0.0.0.0", "HOTLINE_PORT": "8080"})  # noqa: S104
    assert wildcard.public_base_url == "http://127.0.0.1:8080"
    told = {"HOTLINE_PORT": "9123", "HOTLINE_PUBLIC_BASE_URL": "https://pay.example.cn"}
    assert load_settings(environ=told).public_base_url == "https://pay.example.cn"


def test_start_up_names_what_is_on_and_off() -> None:
    demo = {c.name: c for c in components(load_settings(environ={}))}
    assert demo["cards"].on and "DEMO" in demo["cards"].detail
    assert demo["demo courier"].on and not demo["redis"].on
    prod = {c.name: c for c in components(load_settings(environ=PROD))}
    assert not prod["cards"].on and not prod["demo courier"].on and not prod["demo seed"].on
    assert prod["redis"].on and "cache" in prod["redis"].detail
    assert "Twilio" in prod["sms"].detail
    assert (
        "hotline worker"
        in components(load_settings(environ={**PROD, "HOTLINE_WORKER": "dramatiq"}))[3].detail
    )


def test_start_up_says_the_twilio_webhooks_refuse_everything_without_a_token() -> None:
    demo = {c.name: c for c in components(load_settings(environ={}))}["twilio webhooks"]
    assert not demo.on and "HOTLINE_TWILIO_AUTH_TOKEN" in demo.detail and "403" in demo.detail
    prod = {c.name: c for c in components(load_settings(environ=PROD))}["twilio webhooks"]
    assert prod.on and "verified" in prod.detail
