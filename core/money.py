"""Money as integer minor units plus an ISO 4217 currency. No float touches money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated

import msgspec

# The largest amount, in minor units, any one request may carry (a top-up, a credit limit, a
# refund, a price, a partner's cost) and any one order may total: ten million yuan. It is far
# under 2**63 and under 2**31 too, so it fits every amount column, int32 ones included.
MAX_AMOUNT = 1_000_000_000
# The largest balance a phone account may reach by top-ups and refunds (bigint column).
MAX_BALANCE = 1_000_000_000_000_000

AmountIn = Annotated[
    int,
    msgspec.Meta(ge=0, le=MAX_AMOUNT, description=f"integer minor units, 0 to {MAX_AMOUNT}"),
]


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.amount) is not int:
            raise TypeError("Money.amount must be an int of minor units")
        if len(self.currency) != 3 or not self.currency.isupper():
            raise ValueError(f"bad currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} vs {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def to_json(self) -> dict[str, int | str]:
        return {"amount": self.amount, "currency": self.currency}


def major_units(amount: int) -> Decimal:
    """Minor units as a decimal of major units (two decimals: CNY, USD, EUR...), for people
    and spreadsheets; a Decimal, so a CSV writer keeps it a number (never text)."""
    return Decimal(amount).scaleb(-2).quantize(Decimal("0.01"))
