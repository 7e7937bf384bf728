"""Pure rules of fulfillment: the shipment state machine, the retry policy and partner
signatures. No I/O here, so every rule is testable with plain values."""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class ShipmentStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    FAILED = "failed"
    RETURNED = "returned"


# Forward progress only: an update with a lower rank than the current one is out of order.
_RANK = {
    ShipmentStatus.PENDING: 0,
    ShipmentStatus.DISPATCHED: 1,
    ShipmentStatus.IN_TRANSIT: 2,
    ShipmentStatus.DELIVERED: 3,
    ShipmentStatus.RETURNED: 4,
    ShipmentStatus.FAILED: 4,
}
TERMINAL = frozenset({ShipmentStatus.FAILED, ShipmentStatus.RETURNED})
PARTNER_SETTABLE = frozenset(
    {
        ShipmentStatus.DISPATCHED,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.DELIVERED,
        ShipmentStatus.FAILED,
        ShipmentStatus.RETURNED,
    }
)


def can_move(current: ShipmentStatus, to: ShipmentStatus) -> bool:
    """True when `to` is progress from `current` (skipping steps is allowed: a partner may
    report `delivered` without ever saying `in_transit`). Terminal states never move, a
    delivered shipment may only come back as `returned`, and `failed` is only reachable
    before delivery."""
    if current in TERMINAL or current == to:
        return False
    if to == ShipmentStatus.FAILED:
        return current != ShipmentStatus.DELIVERED
    if to == ShipmentStatus.RETURNED:
        return current != ShipmentStatus.PENDING
    return _RANK[to] > _RANK[current]


def callback_outcome(
    current: ShipmentStatus,
    to: ShipmentStatus,
    occurred_at: datetime,
    last_event_at: datetime | None,
) -> str:
    """`applied` when the update moves the shipment on, `stale` when it happened before the
    last applied update, `ignored` when it would move the shipment backwards or sideways."""
    if last_event_at is not None and occurred_at < last_event_at:
        return "stale"
    return "applied" if can_move(current, to) else "ignored"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 600.0
    timeout_seconds: float = 10.0
    lease_seconds: float = 30.0  # a dispatch not finished by then is presumed dead
    watchdog_seconds: float = 60.0  # a pending shipment untouched this long is re-enqueued
    # An `order.paid` sent this long ago whose order still has no shipment (Dramatiq gave up
    # on it, or Redis restarted without its data) is sent again, this many times, then
    # dead-lettered. A paid order should not wait long to ship, so this is short, yet above
    # Dramatiq's own retry window for the job (fulfillment.actors, 30 s) and a normal queue
    # backlog: a redelivery of a message still queued is harmless (the job is idempotent)
    # but doubles the work. HOTLINE_DISPATCH_REDELIVER_SECONDS.
    redeliver_seconds: float = 45.0
    max_redeliveries: int = 3

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Full-jitter exponential backoff; a partner's Retry-After is a floor, never cut."""
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        jittered = rng.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            return max(jittered, min(retry_after, self.cap_seconds))
        return jittered


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    RETRY = "retry"
    PERMANENT = "permanent"


def classify(status_code: int | None) -> Outcome:
    """None means the request never got an answer (timeout, refused connection)."""
    if status_code is None or status_code == 429 or status_code >= 500:
        return Outcome.RETRY
    if 200 <= status_code < 300:
        return Outcome.ACCEPTED
    if status_code == 408:
        return Outcome.RETRY
    return Outcome.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff


SIGNATURE_TOLERANCE_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, header: str | None, now_ts: int) -> str | None:
    """None when valid, else the reason (bad format, stale timestamp, wrong signature)."""
    if not header:
        return "missing signature"
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return "malformed signature"
    if abs(now_ts - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        return "timestamp outside tolerance"
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        return "signature mismatch"
    return None


def eticket_text(request: dict[str, Any], language: str) -> str:
    """The SMS carrying the booking codes, in the customer's language (zh or en)."""
    codes = [c for item in request.get("items", []) for c in item.get("codes", [])]
    number = request.get("order_number", "")
    if language == "en":
        return f"Hotline: your e-tickets for order {number}: {', '.join(codes)}."
    return f"Hotline：您的订单 {number} 电子票码：{'、'.join(codes)}。"
