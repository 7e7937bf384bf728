"""Reading a customer's text as a command (pure: no database, no Litestar).

Feature phones type what they can: full-width letters and digits (`ＢＯＯＫ　ＪＡＹ２０２６`),
Chinese punctuation as separators (`订票，JAY2026，2张`), lower case, doubled spaces, a
Chinese verb glued to its argument (`订票JAY2026 2`). NFKC folds the full-width forms, the
separators become spaces, and the verb is looked up in both languages. The PIN of PAY and
CANCEL is taken out of the text kept for the record (`masked`): it is never stored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

from core.dates import in_window
from core.text import without_controls

MAX_BODY = 1600  # Twilio's longest message; anything longer is cut before reading

HELP, LIST, INFO, BOOK, PAY, CARD = "HELP", "LIST", "INFO", "BOOK", "PAY", "CARD"
STATUS, CANCEL, TICKET, COMPLAIN = "STATUS", "CANCEL", "TICKET", "COMPLAIN"
SURVEY, STOP, START, TEXT, EMPTY = "SURVEY", "STOP", "START", "TEXT", "EMPTY"
PIN_VERBS = frozenset({PAY, CANCEL})

# Every spelling of a verb (upper case for Latin ones), Chinese simplified and traditional.
VERBS: dict[str, str] = {
    **dict.fromkeys(("HELP", "?", "MENU", "帮助", "幫助", "菜单", "菜單"), HELP),
    **dict.fromkeys(("LIST", "OFFERS", "查询", "查詢", "列表"), LIST),
    **dict.fromkeys(("INFO", "DETAILS", "详情", "詳情"), INFO),
    **dict.fromkeys(("BOOK", "ORDER", "订票", "訂票", "预订", "預訂", "购票", "購票"), BOOK),
    **dict.fromkeys(("PAY", "支付", "付款"), PAY),
    **dict.fromkeys(("CARD", "刷卡", "银行卡", "銀行卡"), CARD),
    **dict.fromkeys(("STATUS", "状态", "狀態", "查单", "查單"), STATUS),
    **dict.fromkeys(("CANCEL", "取消", "退票"), CANCEL),
    **dict.fromkeys(("TICKET", "ETICKET", "E-TICKET", "电子票", "電子票"), TICKET),
    **dict.fromkeys(("COMPLAIN", "COMPLAINT", "投诉", "投訴"), COMPLAIN),
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "TD", "退订", "退訂"), STOP),
    **dict.fromkeys(("START", "UNSTOP", "SUBSCRIBE", "订阅", "訂閱"), START),
}
# Chinese verbs may be glued to what follows; longest first so 电子票 wins over a shorter one.
_CJK_VERBS = sorted((v for v in VERBS if not v.isascii()), key=len, reverse=True)
KINDS: dict[str, str] = {
    **dict.fromkeys(("EVENT", "EVENTS", "SHOW", "演出", "活动", "活動", "门票", "門票"), "event"),
    **dict.fromkeys(("TRAIN", "TRAINS", "火车", "火車", "高铁", "高鐵"), "train"),
    **dict.fromkeys(("FLIGHT", "FLIGHTS", "机票", "機票", "航班"), "flight"),
    **dict.fromkeys(("HOTEL", "HOTELS", "酒店"), "hotel"),
}
COURIER_WORDS = frozenset({"COURIER", "DELIVER", "DELIVERY", "快递", "快遞", "送票", "配送"})
# What people put between words, after NFKC (which already made ，；：！？ ASCII).
_SEPARATORS = re.compile(r"[,;:、。!?|#＃\s]+")
_SEPARATOR_CHARS = ",;:、。!?|#＃ "
_HEAD = re.compile(r"^(?:\?|[^\s,;:、。!?|#＃]+)")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,15}$")
_ORDER = re.compile(r"^[A-Z0-9]{8}$")  # commerce's order numbers, dashes and spaces dropped
_PIN = re.compile(r"^\d{4,8}$")
_QTY = re.compile(r"^(\d{1,3})(?:张|張|个|個|位|人|X|PCS|TICKETS?)?$")
_TICKET_NO = r"\d{3}-?\d{3}-?\d{3}"
_SURVEY = re.compile(rf"^(?:({_TICKET_NO})\s+)?([1-5])(?:分)?$")
_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")  # what a PIN looks like, in any text
_DATE = re.compile(r"^(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?$")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uf900-\ufaff]")
MASK = "******"


@dataclass(frozen=True, slots=True)
class Command:
    verb: str
    language: str  # zh | en: the language the text was written in
    masked: str  # the text as we keep it: PIN replaced by MASK
    code: str | None = None
    quantity: int | None = None
    order: str | None = None  # order number as stored (upper case, no dashes)
    pin: str | None = None  # never stored, logged or echoed
    text: str | None = None  # COMPLAIN's words, a free text's words
    kind: str | None = None
    on: date | None = None
    address: str | None = None
    score: int | None = None
    ticket_number: str | None = None
    problem: str | None = None  # a known verb used wrongly: its usage is the reply

    def __repr__(self) -> str:  # a Command in a log or a traceback never shows the PIN
        return f"Command({self.verb}, problem={self.problem}, masked={self.masked!r})"


def normalise(body: str) -> str:
    """NFKC (full-width to ASCII, ideographic space to space), no control characters, one
    space between words, trimmed."""
    text = unicodedata.normalize("NFKC", body or "")[:MAX_BODY]
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    return " ".join(text.split())


def language_of(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def mask(original: str, pin: str | None) -> str:
    """The text with the PIN (and anything shaped like one) replaced, full-width digits too."""
    text = original[:MAX_BODY]

    def hide(m: re.Match[str]) -> str:
        digits = unicodedata.normalize("NFKC", m.group())
        return MASK if digits == pin or len(digits) == 6 else m.group()

    return re.sub(r"\d+", hide, text) if pin or _SIX_DIGITS.search(_nfkc(text)) else text


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def _split_verb(text: str) -> tuple[str | None, str]:
    """(canonical verb, the rest) or (None, text)."""
    head = _HEAD.match(text)
    word = head.group(0).upper() if head else ""
    if word in VERBS:
        return VERBS[word], text[len(word) :].lstrip(_SEPARATOR_CHARS)
    for verb in _CJK_VERBS:  # 订票JAY2026 2: the verb glued to its argument
        if text.startswith(verb):
            return VERBS[verb], text[len(verb) :].lstrip(_SEPARATOR_CHARS)
    return None, text


def _words(rest: str) -> list[str]:
    return [w for w in _SEPARATORS.split(rest.upper()) if w]


def _quantity(word: str) -> int | None:
    m = _QTY.match(word)
    return int(m.group(1)) if m else None


def _order(word: str) -> str | None:
    number = word.replace("-", "")
    return number if _ORDER.match(number) else None


def _date(word: str, today: date | None) -> date | None:
    if word in ("TODAY", "今天") and today:
        return today
    if word in ("TOMORROW", "明天") and today:
        return today + timedelta(days=1)
    m = _DATE.match(word)
    if m is None:
        return None
    year = int(m.group(1)) if m.group(1) else (today.year if today else None)
    if year is None:
        return None
    try:
        found = date(year, int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if not m.group(1) and today and found < today:  # 1-5 in December means next January's
        found = found.replace(year=found.year + 1)
    return found if in_window(found) else None  # a search could not take it (core/dates.py)


def parse(body: str, *, today: date | None = None) -> Command:
    """Read one text. Never raises: a text we cannot read is TEXT (free words) or a known
    verb with `problem` set, and the caller answers with help."""
    # Control characters and terminal escapes are dropped, not refused as the API and the
    # shop do: a texter has no form to correct and a refused complaint is a lost one, and
    # on a phone they come from the handset or a gateway, never from the person's words.
    # Dropped whole before reading, so neither the ticket nor the record keeps a "[31m".
    body = without_controls(body or "")
    text = normalise(body)
    lang = language_of(text)
    if not text:
        return Command(EMPTY, lang, "")
    verb, rest = _split_verb(text)
    if verb is None:
        return _without_verb(body, text, lang)
    if verb in (STOP, START, HELP):
        return Command(verb, lang, mask(body, None))
    if verb == COMPLAIN:
        said = rest.strip(" ,;:、。")
        if not said:
            return Command(verb, lang, mask(body, None), problem="text")
        return Command(verb, lang, mask(body, None), text=mask(said, None)[:2000])
    if verb == BOOK:
        return _book(body, rest, lang)
    words = _words(rest)
    if verb in PIN_VERBS:
        pin = words[-1] if len(words) >= 2 and _PIN.match(words[-1]) else None
        order = _order(words[0]) if words else None
        masked = mask(body, pin)
        if pin is None or order is None or len(words) != 2:
            return Command(verb, lang, masked, order=order, problem="order_pin")
        return Command(verb, lang, masked, order=order, pin=pin)
    masked = mask(body, None)
    if verb in (CARD, STATUS, TICKET):
        order = _order(words[0]) if words else None
        if (verb == CARD and order is None) or (words and order is None) or len(words) > 1:
            return Command(verb, lang, masked, problem="order")
        return Command(verb, lang, masked, order=order)
    if verb == INFO:
        if len(words) != 1 or not _CODE.match(words[0]):
            return Command(verb, lang, masked, problem="code")
        return Command(verb, lang, masked, code=words[0])
    # LIST [kind] [date], in either order
    kind = on = None
    for word in words:
        if word in KINDS and kind is None:
            kind = KINDS[word]
        elif (found := _date(word, today)) is not None and on is None:
            on = found
        else:
            return Command(verb, lang, masked, problem="list")
    return Command(verb, lang, masked, kind=kind, on=on)


def _book(body: str, rest: str, lang: str) -> Command:
    masked = mask(body, None)
    head, address = rest, None
    upper = rest.upper()
    for word in COURIER_WORDS:  # everything after the courier word is the address, verbatim
        at = upper.find(word)
        if at >= 0:
            head, address = rest[:at], rest[at + len(word) :].strip(" ,;:、。")
            break
    words = _words(head)
    if not words or not _CODE.match(words[0]) or len(words) > 2:
        return Command(BOOK, lang, masked, problem="book")
    qty = _quantity(words[1]) if len(words) == 2 else 1
    if qty is None or qty < 1:
        return Command(BOOK, lang, masked, problem="book")
    if address is not None and not address:
        return Command(BOOK, lang, masked, problem="address")
    return Command(BOOK, lang, masked, code=words[0], quantity=qty, address=address)


def _without_verb(body: str, text: str, lang: str) -> Command:
    """A bare survey score (`5`, `482-117-730 4`), a bare booking (`JAY2026 2`: what a new
    user tries first), or free text (which may join an open ticket)."""
    survey = _SURVEY.match(_SEPARATORS.sub(" ", text).strip())
    if survey:
        number = survey.group(1)
        if number:
            digits = number.replace("-", "")
            number = f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
        return Command(
            SURVEY, lang, mask(body, None), score=int(survey.group(2)), ticket_number=number
        )
    words = _words(text)
    if (
        len(words) == 2
        and _CODE.match(words[0])
        and re.search(r"[A-Z]", words[0])
        and re.search(r"\d", words[0])
        and _quantity(words[1])
    ):
        return _book(body, text, lang)
    return Command(TEXT, lang, mask(body, None), text=mask(text, None)[:2000])
