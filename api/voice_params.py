"""What the voice provider's form fields may hold (api/controllers/voice.py). A signature
proves who posted, not that the fields are sane: a broken SIP bridge, or a replayed request
someone edited before re-signing with a leaked token, may send anything.

- `Digits` is what a keypad sent: 0-9, * and #, never more than a few (our Gathers ask 6 at
  most). Anything else (letters, full-width or other Unicode digits, thousands of keys) is no
  caller's input, so it is heard as no input rather than counted against the customer's PIN
  lock. str.isdigit() would let '２' and '²' through, hence the explicit ASCII class.
"""

from __future__ import annotations

import re

import structlog

log = structlog.get_logger("hotline.voice")

MAX_DIGITS = 16  # well above any Gather of ours, so a real caller's keys always fit
KEYPAD = re.compile(rf"[0-9*#]{{1,{MAX_DIGITS}}}")


def keys(params: dict[str, str], sid: str, step: str) -> str:
    """The keys pressed, or "" (heard as no input) when no keypad could have sent them."""
    digits = params.get("Digits", "").strip()
    if digits and not KEYPAD.fullmatch(digits):
        log.warning("voice digits no keypad sends", call_sid=sid, step=step, length=len(digits))
        return ""
    return digits
