"""Request and response shapes of the fulfillment room (msgspec), and the order snapshot the
room works from (filled from the commerce room by fulfillment.orders)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import msgspec

from core.money import AmountIn


@dataclass(frozen=True)
class OrderItem:
    name: str
    quantity: int
    codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderSnapshot:
    """What fulfillment needs to know about a paid order."""

    order_id: str
    order_number: str
    delivery_method: str  # eticket | courier
    recipient_name: str
    recipient_phone: str
    address: str = ""
    language: str = "zh"
    items: tuple[OrderItem, ...] = field(default_factory=tuple)
    status: str = "paid"  # the order's status when read; only paid/fulfilling orders ship

    @property
    def shippable(self) -> bool:
        return self.status in ("paid", "fulfilling")

    def dispatch_body(self, shipment_id: str) -> dict[str, Any]:
        return {
            "shipment_id": shipment_id,
            "order_number": self.order_number,
            "items": [
                {"name": i.name, "quantity": i.quantity, "codes": list(i.codes)} for i in self.items
            ],
            "recipient": {
                "name": self.recipient_name,
                "phone": self.recipient_phone,
                "address": self.address,
            },
            "delivery_method": self.delivery_method,
        }


class PartnerIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    name: str
    kind: str
    endpoint_url: str = ""
    secret: str = ""
    delivery_method: str | None = None
    cost_minor: AmountIn = 0


class PartnerOut(msgspec.Struct):
    id: str
    code: str
    name: str
    kind: str
    delivery_method: str
    endpoint_url: str
    cost_minor: int
    currency: str
    active: bool


class PartnerCallbackIn(msgspec.Struct):
    # Bounded by their columns: a longer value would reach PostgreSQL and fail there.
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    shipment_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    status: Annotated[str, msgspec.Meta(max_length=32)]
    occurred_at: datetime
    tracking_number: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class TrackingEventOut(msgspec.Struct):
    status: str
    source: str
    applied: bool
    occurred_at: datetime
    note: str | None = None


class ShipmentOut(msgspec.Struct):
    id: str
    order_id: str
    partner_code: str
    status: str
    tracking_number: str | None
    attempts: int
    dead_lettered: bool
    created_at: datetime
    dispatched_at: datetime | None
    events: list[TrackingEventOut]


class DeadLetterOut(msgspec.Struct):
    id: str
    reason: str  # retries_exhausted | no_partner | job_failed | sms_failed
    shipment_id: str | None  # None when the paid order never got a shipment
    order_id: str | None
    partner_code: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    replayed_at: datetime | None
    sms_id: str | None = None  # reason sms_failed: the text (GET /v1/customers/{id}/messages)
