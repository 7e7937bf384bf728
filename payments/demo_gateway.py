"""A card gateway for the demo only: it approves Stripe's standard test PaymentMethods and
declines the ones Stripe documents as declining, and never moves real money.

`make run` has no Stripe account; without this, card payments would simply be off for a
newcomer. It is honest about being a demo: every id it makes starts with `demo_`, the pay
page it pairs with (web/templates/shop/pay.html) says "demo: no real card", it keeps its
intents in process memory (a restart forgets them), and it refuses to exist outside
HOTLINE_ENV=demo.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

from payments.gateway import (
    Dispute,
    GatewayError,
    GatewayNotFound,
    GatewayRefund,
    Intent,
    SetupIntent,
)

# Stripe's test PaymentMethods (https://docs.stripe.com/testing): the card numbers the demo
# page accepts map onto these, so the server never sees a card number, even a test one.
APPROVED = frozenset({"pm_card_visa", "pm_card_mastercard", "pm_card_unionpay"})
DECLINED = {
    "pm_card_chargeDeclined": "Your card was declined.",  # 4000 0000 0000 0002
    "pm_card_chargeCustomerFail": "Your card was declined.",  # 4000 0000 0000 0341
    "pm_card_chargeDeclinedInsufficientFunds": "Your card has insufficient funds.",  # ...9995
}


class DemoGatewayRefused(RuntimeError):
    """The demo gateway was asked for outside demo mode."""


class DemoCardGateway:
    """In-memory stand-in for Stripe with the same port (payments.gateway.Gateway)."""

    is_demo = True

    def __init__(self, env: str) -> None:
        if env != "demo":
            raise DemoGatewayRefused(f"the demo card gateway runs only in demo mode, not {env!r}")
        self._intents: dict[str, Intent] = {}
        self._by_key: dict[str, str] = {}
        self._ids = itertools.count(1)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_demo_{next(self._ids):06d}"

    async def create_setup_intent(
        self, *, metadata: dict[str, str], idempotency_key: str
    ) -> SetupIntent:
        sid = self._by_key.setdefault(idempotency_key, self._new_id("seti"))
        return SetupIntent(id=sid, client_secret=f"{sid}_secret_demo")

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        if idempotency_key in self._by_key:  # a retry returns the first outcome
            return self._intents[self._by_key[idempotency_key]]
        if payment_method in DECLINED:
            raise GatewayError(DECLINED[payment_method], declined=True)
        if payment_method not in APPROVED:
            raise GatewayError("demo gateway: use a test card (e.g. 4242 4242 4242 4242)")
        intent = Intent(
            id=self._new_id("pi"),
            status="succeeded",
            amount=amount,
            currency=currency.upper(),
            payment_method=payment_method,
            metadata=dict(metadata),
        )
        self._intents[intent.id] = intent
        self._by_key[idempotency_key] = intent.id
        return intent

    def _get(self, intent_id: str) -> Intent:
        try:
            return self._intents[intent_id]
        except KeyError:
            raise GatewayNotFound(f"demo gateway: no intent {intent_id} (restarted?)") from None

    async def retrieve_intent(self, intent_id: str) -> Intent:
        return self._get(intent_id)

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        intent = self._get(intent_id)
        if intent.status != "succeeded":
            intent = replace(intent, status="canceled")
            self._intents[intent_id] = intent
        return intent

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        return self._get(intent_id)

    async def refund(
        self, intent_id: str, *, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> GatewayRefund:
        if idempotency_key in self._by_key:
            return GatewayRefund(id=self._by_key[idempotency_key], status="succeeded")
        intent = self._get(intent_id)
        if intent.amount_refunded + amount > intent.amount:
            raise GatewayError("demo gateway: refund exceeds the charge")
        self._intents[intent_id] = replace(intent, amount_refunded=intent.amount_refunded + amount)
        rid = self._by_key[idempotency_key] = self._new_id("re")
        return GatewayRefund(id=rid, status="succeeded")

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        raise GatewayError("demo gateway: there are no disputes in the demo")
