"""Pure commerce rules: the order state machine, price arithmetic, readable numbers.

No I/O here: everything is testable without a database.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.errors import InvalidTransition, ValidationFailed
from core.money import MAX_AMOUNT, Money
from core.text import check_plain_text


class OfferKind(StrEnum):
    EVENT = "event"
    TRAIN = "train"
    FLIGHT = "flight"
    HOTEL = "hotel"


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    FULFILLING = "fulfilling"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


class DeliveryMethod(StrEnum):
    E_TICKET = "e_ticket"
    COURIER = "courier"


S = OrderStatus

# The lifecycle. `expired -> paid` is the late-payment path only: mark_paid re-holds the
# capacity first and takes it only when the seats are still there.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.PAID, S.EXPIRED, S.CANCELLED}),
    S.PAID: frozenset({S.FULFILLING, S.CANCELLED}),
    S.FULFILLING: frozenset({S.FULFILLED, S.CANCELLED}),
    S.FULFILLED: frozenset({S.REFUNDED}),
    S.EXPIRED: frozenset({S.PAID}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset({S.REFUNDED}),  # a second partial refund is another history row
}

# States in which the order's seats are taken out of `available`.
HOLDING = frozenset({S.AWAITING_PAYMENT, S.PAID, S.FULFILLING, S.FULFILLED, S.REFUNDED})
# Money was taken: leaving these states to `cancelled` means a refund is owed.
PAID_STATES = frozenset({S.PAID, S.FULFILLING})

ACTOR_KINDS = ("agent", "customer", "system", "partner")
CHANNELS = ("phone", "sms", "web", "system")


def can_transition(current: OrderStatus, to: OrderStatus) -> bool:
    return to in TRANSITIONS[current]


def check_transition(current: OrderStatus, to: OrderStatus) -> None:
    """Raise InvalidTransition (409 `invalid-transition`) unless `current -> to` is allowed."""
    if not can_transition(current, to):
        raise InvalidTransition(
            f"an order that is {current.value} cannot become {to.value}",
            extra={"from": current.value, "to": to.value},
        )


def releases_capacity(current: OrderStatus, to: OrderStatus) -> bool:
    """Moving to cancelled/expired gives the seats back, once, if they were held."""
    return current in HOLDING and to in (S.CANCELLED, S.EXPIRED)


def check_actor(actor: str, channel: str) -> None:
    """History names who did it ('agent:<id>', 'customer:<id>', 'system', 'partner:<code>')."""
    kind = actor.split(":", 1)[0]
    if kind not in ACTOR_KINDS:
        raise ValueError(f"unknown actor kind in {actor!r}")
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")


# --- order lines and pricing -------------------------------------------------------------

MAX_QUANTITY = 100  # per line; a bigger group booking goes through sales, not the hotline
MAX_LINES = 20


@dataclass(frozen=True, slots=True)
class LineRequest:
    offer_id: str
    quantity: int


def normalise_lines(lines: Sequence[LineRequest]) -> list[LineRequest]:
    """Validate quantities and merge repeated offers; sorted by offer id, which is also the
    order in which capacity rows are locked, so two multi-offer orders can never deadlock."""
    if not lines:
        raise ValidationFailed.field("items", "at least one item is needed")
    if len(lines) > MAX_LINES:
        raise ValidationFailed.field("items", f"at most {MAX_LINES} items per order")
    merged: dict[str, int] = {}
    for i, line in enumerate(lines):
        q = line.quantity
        if type(q) is not int or q <= 0 or q > MAX_QUANTITY:
            raise ValidationFailed.field(
                f"items[{i}].quantity", f"must be a whole number from 1 to {MAX_QUANTITY}"
            )
        if not isinstance(line.offer_id, str) or not line.offer_id:
            raise ValidationFailed.field(f"items[{i}].offer_id", "required")
        merged[line.offer_id] = merged.get(line.offer_id, 0) + q
    for offer_id, q in merged.items():
        if q > MAX_QUANTITY:
            raise ValidationFailed.field(
                "items", f"at most {MAX_QUANTITY} of offer {offer_id} per order"
            )
    return [LineRequest(o, merged[o]) for o in sorted(merged)]


@dataclass(frozen=True, slots=True)
class PricedLine:
    offer_id: str
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class PriceBreakdown:
    subtotal: Money
    booking_fee: Money
    delivery_fee: Money

    @property
    def total(self) -> Money:
        return self.subtotal + self.booking_fee + self.delivery_fee


def delivery_fee(
    method: DeliveryMethod, *, courier_fee: int, currency: str, eticket_fee: int = 0
) -> Money:
    """送票费 by delivery method, both configured: a courier costs HOTLINE_COURIER_FEE, an
    e-ticket sent by SMS HOTLINE_ETICKET_FEE (free unless the operator says otherwise)."""
    return Money(courier_fee if method is DeliveryMethod.COURIER else eticket_fee, currency)


def price_order(
    lines: Iterable[PricedLine],
    *,
    method: DeliveryMethod,
    booking_fee: int,
    courier_fee: int,
    currency: str,
    eticket_fee: int = 0,
) -> PriceBreakdown:
    """Subtotal of the lines + one booking fee (订票费) per order + the delivery fee."""
    subtotal = Money.zero(currency)
    for line in lines:
        if line.unit_price.currency != currency:
            raise ValidationFailed.field(
                "items", f"all offers in an order must be priced in {currency}"
            )
        subtotal = subtotal + line.line_total
    price = PriceBreakdown(
        subtotal=subtotal,
        booking_fee=Money(booking_fee, currency),
        delivery_fee=delivery_fee(
            method, courier_fee=courier_fee, currency=currency, eticket_fee=eticket_fee
        ),
    )
    if price.total.amount > MAX_AMOUNT:  # also keeps the order's int32 amount columns whole
        raise ValidationFailed.field(
            "items", f"an order may total at most {MAX_AMOUNT} minor units; split it"
        )
    return price


def check_delivery(method: str, address: str | None) -> tuple[DeliveryMethod, str | None]:
    try:
        m = DeliveryMethod(method)
    except ValueError:
        raise ValidationFailed.field("delivery.method", "must be e_ticket or courier") from None
    address = (address or "").strip() or None
    if m is DeliveryMethod.COURIER and not address:
        raise ValidationFailed.field("delivery.address", "a courier needs an address")
    if address is not None and len(address) > 500:
        raise ValidationFailed.field("delivery.address", "at most 500 characters")
    check_plain_text("delivery.address", address, lines=True)  # the shop's is a textarea
    return m, address


# order_events.reason is varchar(500): a longer reason is refused, never cut to fit.
REASON_MAX = 500


def check_reason(reason: str) -> None:
    """422 naming `reason` when a status change's reason does not fit its column."""
    if len(reason) > REASON_MAX:
        raise ValidationFailed.field("reason", f"at most {REASON_MAX} characters")


# --- human-facing codes ------------------------------------------------------------------

# No 0/O, 1/I/L: nothing a caller can mishear or misread on the phone.
READABLE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ORDER_NUMBER_LENGTH = 8
OFFER_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,15}$")


_ORDER_NUMBERS = len(READABLE_ALPHABET) ** ORDER_NUMBER_LENGTH


def new_order_number() -> str:
    """Uniform over all 31^8 numbers from one draw of the OS's randomness (secrets.choice per
    character made eight getrandom calls, measurable on the order path)."""
    n, digits = secrets.randbelow(_ORDER_NUMBERS), []
    for _ in range(ORDER_NUMBER_LENGTH):
        n, d = divmod(n, len(READABLE_ALPHABET))
        digits.append(READABLE_ALPHABET[d])
    return "".join(digits)


def new_offer_code() -> str:
    return "".join(secrets.choice(READABLE_ALPHABET) for _ in range(6))


def normalise_readable(text: str) -> str:
    """What a caller reads out, as we store it: upper case, spaces and dashes dropped."""
    return text.strip().upper().replace(" ", "").replace("-", "")


def check_offer_code(code: str) -> str:
    code = code.strip().upper()
    if not OFFER_CODE.match(code):
        raise ValidationFailed.field("code", "2-16 letters, digits or dashes")
    return code
