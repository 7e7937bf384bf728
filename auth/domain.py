"""Pure rules of the auth room: PIN and password strength, throttle delays, code hashing."""

from __future__ import annotations

import hashlib
import hmac
import itertools
from datetime import date

COMMON_PINS = frozenset(
    {
        "123456",
        "654321",
        "111111",
        "000000",
        "123123",
        "112233",
        "121212",
        "520520",
        "520131",
        "123321",
        "666666",
        "888888",
        "987654",
        "147258",
        "159753",
        "789456",
        "456789",
        "012345",
    }
)


def pin_problem(pin: str, *, phone: str | None = None, birth_hint: str | None = None) -> str | None:
    """Why this PIN is refused, or None when acceptable (6 digits, not guessable)."""
    if not isinstance(pin, str) or len(pin) != 6 or not pin.isascii() or not pin.isdigit():
        return "the PIN must be exactly 6 digits"
    if len(set(pin)) == 1:
        return "the PIN must not repeat one digit"
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        return "the PIN must not be a run of consecutive digits"
    if pin in COMMON_PINS:
        return "the PIN is too common"
    if len(set(pin)) <= 2:
        return "the PIN must use at least three different digits"
    if phone and pin in phone:
        return "the PIN must not be part of the phone number"
    if looks_like_date(pin):
        return "the PIN must not be a date"
    return None


def _is_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def looks_like_date(pin: str) -> bool:
    """Birthdays and anniversaries are the first guesses: YYMMDD, DDMMYY, MMDDYY (either
    century, so 29 February counts when some century makes it real), YYYYMM and MMYYYY for
    years 19xx and 20xx."""
    a, b, c = int(pin[0:2]), int(pin[2:4]), int(pin[4:6])
    for year2, month, day in ((a, b, c), (c, b, a), (c, a, b)):
        if any(_is_date(century + year2, month, day) for century in (1900, 2000)):
            return True
    for year, month in ((int(pin[0:4]), c), (int(pin[2:6]), a)):
        if 1900 <= year <= 2099 and 1 <= month <= 12:
            return True
    return False


def password_problem(password: str) -> str | None:
    if not isinstance(password, str) or len(password) < 12:
        return "the password must have at least 12 characters"
    if len(password) > 256:
        return "the password is too long"
    if len(set(password)) < 5:
        return "the password is too repetitive"
    return None


def failure_delay(failures: int, *, delay_after: int, max_failures: int) -> int | None:
    """Seconds to wait before the next attempt after `failures` misses; None means locked."""
    if failures >= max_failures:
        return None
    if failures < delay_after:
        return 0
    return min(2 ** (failures - delay_after + 1), 300)


def hash_code(secret: str, phone: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()
