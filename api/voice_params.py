"""What the voice provider's form fields may hold (api/controllers/voice.py). A signature
proves who posted, not that the fields are sane: a broken SIP bridge, or a replayed request
someone edited before re-signing with a leaked token, may send anything.

- `CallSid` keys the call's record, its state in Redis and the PIN's audit rows: Twilio's
  are `CA` + 32 hex characters, a FreeSWITCH bridge's a UUID; letters, digits, `-` and `_`
  (1-64, the column) cover both, and anything else is 422 naming the field.
- `From` and `To` are stored (From normalised to E.164, To as sent): a control character in
  either is 422 naming it, as free text is everywhere (core/text.py).
- `Digits` is what a keypad sent: 0-9, * and #, never more than a few (our Gathers ask 6 at
  most). Anything else (letters, full-width or other Unicode digits, thousands of keys) is no
  caller's input, so it is heard as no input rather than counted against the customer's PIN
  lock. str.isdigit() would let '２' and '²' through, hence the explicit ASCII class.
- `CallDuration` (the status callback) is seconds in ASCII digits; anything else is no
  duration (isdigit() passed '²', which int() refuses: a 500).
"""

from __future__ import annotations

import re

import structlog

from core.errors import ValidationFailed
from core.text import check_plain_text

log = structlog.get_logger("hotline.voice")

CALL_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CALL_SID_RULE = "required: 1-64 letters, digits, '-' or '_'"
MAX_TO = 32  # voice_calls.to_phone
MAX_DIGITS = 16  # well above any Gather of ours, so a real caller's keys always fit
KEYPAD = re.compile(rf"[0-9*#]{{1,{MAX_DIGITS}}}")
ASCII_DIGITS = re.compile(r"[0-9]{1,8}")  # a call of up to three years, an int32


def call_sid(params: dict[str, str]) -> str:
    sid = params.get("CallSid", "").strip()
    if not CALL_SID.fullmatch(sid):
        raise ValidationFailed.field("CallSid", CALL_SID_RULE)
    return sid


def numbers(params: dict[str, str]) -> tuple[str, str]:
    """(From, To) as sent, refused when they hold a control character."""
    sent = params.get("From", ""), params.get("To", "")
    check_plain_text("From", sent[0])
    check_plain_text("To", sent[1])
    return sent[0], sent[1][:MAX_TO]


def keys(params: dict[str, str], sid: str, step: str) -> str:
    """The keys pressed, or "" (heard as no input) when no keypad could have sent them."""
    digits = params.get("Digits", "").strip()
    if digits and not KEYPAD.fullmatch(digits):
        log.warning("voice digits no keypad sends", call_sid=sid, step=step, length=len(digits))
        return ""
    return digits


def duration(params: dict[str, str]) -> int | None:
    raw = params.get("CallDuration", "")
    return int(raw) if ASCII_DIGITS.fullmatch(raw) else None
