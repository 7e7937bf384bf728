"""How many SMS segments a text costs (pure; stored on every message and kept low in replies).

GSM 03.38's 7-bit alphabet carries 160 characters in one segment, 153 per segment once the
text is split (the user-data header takes 7); a character of the extension table (`€`, `[`,
`{`, ...) is an escape plus a character, so it counts two. Any other character (Chinese, most
emoji, `，`) turns the whole text into UCS-2: 70 UTF-16 code units in one segment, 67 per
segment when split (an emoji outside the BMP is a surrogate pair: two units).
"""

from __future__ import annotations

import math

# The GSM 03.38 default alphabet (basic character set), as Unicode.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs an escape character and itself.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def septets(text: str) -> int:
    """Length in GSM-7 septets (only meaningful when `is_gsm7(text)`)."""
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


def ucs2_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def encoding(text: str) -> str:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def segments(text: str) -> int:
    """Segments the text is sent as; 0 for an empty text (nothing is sent)."""
    if not text:
        return 0
    if is_gsm7(text):
        size, single, part = septets(text), GSM7_SINGLE, GSM7_PART
    else:
        size, single, part = ucs2_units(text), UCS2_SINGLE, UCS2_PART
    return 1 if size <= single else math.ceil(size / part)


def single_segment_room(text: str) -> int:
    """How many more characters of the same kind fit before a second segment (may be < 0)."""
    if is_gsm7(text):
        return GSM7_SINGLE - septets(text)
    return UCS2_SINGLE - ucs2_units(text)
