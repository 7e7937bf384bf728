"""Fakes for the pure unit layer: a gateway that honours idempotency keys like Stripe and can
lose answers on demand, and an in-memory stand-in for the commerce room's order port."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.principal import Principal
from payments.gateway import (
    Dispute,
    GatewayError,
    GatewayNotFound,
    GatewayRefund,
    GatewayUnknown,
    Intent,
    SetupIntent,
)
from payments.orders import MarkPaidOutcome, OrderInfo

_ids = itertools.count(1)


@dataclass
class FakeGateway:
    """Records every write by idempotency key; the same key replays the first answer."""

    intents: dict[str, Intent] = field(default_factory=dict)
    by_key: dict[str, object] = field(default_factory=dict)
    keys_seen: list[str] = field(default_factory=list)
    charges: int = 0  # money actually taken (one per distinct create key that succeeded)
    refunded: dict[str, int] = field(default_factory=dict)
    # faults: "before" = the request never reached us; "after" = done, but the answer is lost
    faults: list[str] = field(default_factory=list)
    decline: set[str] = field(default_factory=set)
    disputes: dict[str, Dispute] = field(default_factory=dict)
    refuse_refunds: int = 0  # how many of the next refunds the gateway refuses

    def _fault(self, stage: str) -> None:
        if self.faults and self.faults[0] == stage:
            self.faults.pop(0)
            raise GatewayUnknown(f"timeout ({stage})")

    async def create_setup_intent(
        self, *, metadata: dict[str, str], idempotency_key: str
    ) -> SetupIntent:
        n = next(_ids)
        return SetupIntent(id=f"seti_{n}", client_secret=f"seti_{n}_secret")

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        self.keys_seen.append(idempotency_key)
        self._fault("before")
        if idempotency_key in self.by_key:
            result = self.by_key[idempotency_key]
        else:
            if payment_method in self.decline:
                result = GatewayError("declined", declined=True)
            else:
                n = next(_ids)
                result = Intent(
                    f"pi_{n}",
                    "succeeded",
                    amount,
                    currency,
                    f"pi_{n}_secret",
                    payment_method,
                    0,
                    dict(metadata),
                )
                self.intents[result.id] = result
                self.charges += 1
            self.by_key[idempotency_key] = result
        self._fault("after")
        if isinstance(result, GatewayError):
            raise result
        assert isinstance(result, Intent)
        return self.intents[result.id]

    async def retrieve_intent(self, intent_id: str) -> Intent:
        self._fault("before")
        if intent_id not in self.intents:
            raise GatewayNotFound(f"No such payment_intent: '{intent_id}'")
        return self.intents[intent_id]

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        self.intents[intent_id] = replace(self.intents[intent_id], status="canceled")
        return self.intents[intent_id]

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        return self.intents[intent_id]

    async def refund(
        self, intent_id: str, *, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> GatewayRefund:
        self.keys_seen.append(idempotency_key)
        self._fault("before")
        if self.refuse_refunds:
            self.refuse_refunds -= 1
            raise GatewayError("charge already disputed")
        if idempotency_key not in self.by_key:
            intent = self.intents[intent_id]
            self.intents[intent_id] = replace(
                intent, amount_refunded=intent.amount_refunded + amount
            )
            self.refunded[intent_id] = self.refunded.get(intent_id, 0) + amount
            self.by_key[idempotency_key] = GatewayRefund(f"re_{next(_ids)}", "succeeded")
        self._fault("after")
        result = self.by_key[idempotency_key]
        assert isinstance(result, GatewayRefund)
        return result

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        return self.disputes[dispute_id]


@dataclass
class MemoryOrders:
    """Stand-in for commerce's orders (the unit layer only)."""

    orders: dict[str, OrderInfo] = field(default_factory=dict)
    paid: dict[str, int] = field(default_factory=dict)
    outcome: MarkPaidOutcome = "paid"

    def add(self, order: OrderInfo) -> OrderInfo:
        self.orders[order.id] = order
        return order

    async def get(
        self, session: AsyncSession, order_id: str, principal: Principal | None
    ) -> OrderInfo:
        order = self.orders.get(order_id)
        if order is None or (
            principal is not None and principal.is_customer and principal.id != order.customer_id
        ):
            raise NotFound("order not found")
        if order_id in self.paid:
            return replace(order, status="paid")
        return order

    async def mark_paid(
        self,
        session: AsyncSession,
        order_id: str,
        *,
        actor: str,
        channel: str,
        reason: str,
        now: datetime,
    ) -> MarkPaidOutcome:
        if self.outcome == "rehold_failed":
            return "rehold_failed"
        self.paid[order_id] = self.paid.get(order_id, 0) + 1
        return "paid" if self.paid[order_id] == 1 else "already_paid"

    async def refunded(
        self, session: AsyncSession, order_id: str, *, actor: str, reason: str, now: datetime
    ) -> None:
        return None
