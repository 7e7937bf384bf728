"""Phone numbers as people type them, stored E.164 (phonenumbers does the hard part)."""

from __future__ import annotations

import unicodedata

import phonenumbers


class InvalidPhone(ValueError):
    """The text is not a valid, dialable phone number."""


def normalise_phone(raw: str, default_region: str = "CN") -> str:
    """Return the E.164 form of `raw` or raise InvalidPhone.

    Accepts spaces, dashes, dots, brackets, a leading 00 and full-width digits
    (common when a number is typed with a Chinese input method).
    """
    if not isinstance(raw, str):
        raise InvalidPhone("phone must be a string")
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or len(text) > 40:
        raise InvalidPhone("phone is empty or too long")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"not a phone number: {exc._msg}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
