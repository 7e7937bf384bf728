"""The SMS command parser: both languages, full-width input, separators, PIN masking, and
the replies' lengths (the usual ones fit one segment)."""

from __future__ import annotations

from datetime import date

import pytest

from api.sms_channel import parser as p
from api.sms_channel.texts import TEXTS, text
from core.sms_text import segments

TODAY = date(2026, 12, 2)


def parse(body: str) -> p.Command:
    return p.parse(body, today=TODAY)


@pytest.mark.parametrize(
    ("body", "verb"),
    [
        ("HELP", p.HELP),
        ("help", p.HELP),
        (" Help ", p.HELP),
        ("帮助", p.HELP),
        ("ＨＥＬＰ", p.HELP),
        ("?", p.HELP),
        ("LIST", p.LIST),
        ("查询", p.LIST),
        ("status", p.STATUS),
        ("状态", p.STATUS),
        ("TICKET", p.TICKET),
        ("电子票", p.TICKET),
        ("STOP", p.STOP),
        ("td", p.STOP),
        ("TD", p.STOP),
        ("退订", p.STOP),
        ("退訂", p.STOP),
        ("START", p.START),
        ("订阅", p.START),
        ("", p.EMPTY),
        ("   　 ", p.EMPTY),
        ("hello there", p.TEXT),
        ("你好", p.TEXT),
    ],
)
def test_verbs(body: str, verb: str) -> None:
    assert parse(body).verb == verb
    assert parse(body).problem is None


@pytest.mark.parametrize(
    "body",
    [
        "BOOK JAY2026 2",
        "book jay2026 2",
        "Book  JAY2026   2",
        "ＢＯＯＫ　ＪＡＹ２０２６　２",
        "订票 JAY2026 2",
        "订票JAY2026 2",
        "订票，JAY2026，2张",
        "订票：JAY2026、2",
        "訂票 jay2026；2",
        "BOOK,JAY2026,2",
        "JAY2026 2",  # what a new user texts first
        "ｊａｙ２０２６　２张",
    ],
)
def test_book_in_every_spelling(body: str) -> None:
    c = parse(body)
    assert (c.verb, c.code, c.quantity, c.address, c.problem) == (p.BOOK, "JAY2026", 2, None, None)


def test_book_defaults_and_courier() -> None:
    assert parse("BOOK JAY2026").quantity == 1
    c = parse("BOOK JAY2026 2 courier 上海市黄浦区1号")
    assert (c.code, c.quantity, c.address) == ("JAY2026", 2, "上海市黄浦区1号")
    c = parse("订票 JAY2026 1 快递：北京市朝阳区建国路88号")
    assert c.address == "北京市朝阳区建国路88号"
    assert parse("BOOK JAY2026 2 courier").problem == "address"
    assert parse("BOOK").problem == "book"
    assert parse("BOOK JAY2026 zero").problem == "book"
    assert parse("BOOK JAY2026 0").problem == "book"
    assert parse("BOOK JAY2026 2 3").problem == "book"


def test_pay_and_cancel_take_the_pin_out_of_the_record() -> None:
    c = parse("PAY abcd2345 274915")
    assert (c.verb, c.order, c.pin) == (p.PAY, "ABCD2345", "274915")
    assert "274915" not in c.masked and c.masked == "PAY abcd2345 ******"
    assert "274915" not in repr(c)
    c = parse("支付 ABCD-2345 ２７４９１５")  # full-width PIN, dashed order number
    assert (c.verb, c.order, c.pin) == (p.PAY, "ABCD2345", "274915")
    assert "２７４９１５" not in c.masked and p.MASK in c.masked
    c = parse("取消，ABCD2345，274915")
    assert (c.verb, c.order, c.pin) == (p.CANCEL, "ABCD2345", "274915")
    assert "274915" not in c.masked
    c = parse("PAY ABCD2345")
    assert c.problem == "order_pin" and c.pin is None
    c = parse("PAY 274915")  # the PIN where the order should be: refused, still masked
    assert c.problem == "order_pin" and "274915" not in c.masked
    c = parse("cancel ABCD2345 27491")
    assert c.pin == "27491" and "27491" not in c.masked


def test_anything_shaped_like_a_pin_is_masked_in_any_text() -> None:
    assert "274915" not in parse("my pin is 274915 help").masked
    assert "274915" not in (parse("COMPLAIN pin 274915 wrong").text or "")
    assert parse("BOOK JAY2026 2").masked == "BOOK JAY2026 2"


def test_card_status_ticket_info_list() -> None:
    assert parse("CARD ABCD2345").order == "ABCD2345"
    assert parse("刷卡 abcd2345").order == "ABCD2345"
    assert parse("CARD").problem == "order"
    assert parse("STATUS").order is None and parse("STATUS").problem is None
    assert parse("状态 ABCD2345").order == "ABCD2345"
    assert parse("STATUS nope").problem == "order"
    assert parse("TICKET ABCD2345").order == "ABCD2345"
    assert parse("INFO jay2026").code == "JAY2026"
    assert parse("详情JAY2026").code == "JAY2026"
    assert parse("INFO").problem == "code"
    c = parse("LIST train 12-24")
    assert (c.kind, c.on) == ("train", date(2026, 12, 24))
    c = parse("查询 演出 明天")
    assert (c.kind, c.on) == ("event", date(2026, 12, 3))
    assert parse("查询 1月5日").on == date(2027, 1, 5)  # a past day this year is next year's
    assert parse("LIST 2027-02-30").problem == "list"
    assert parse("LIST boats").problem == "list"
    # outside the years the service takes (core/dates.py): help, not a search that overflows
    assert parse("LIST 9999-12-31").problem == "list"
    assert parse("查询 0001-01-01").problem == "list"


def test_complain_and_survey() -> None:
    c = parse("COMPLAIN the usher was rude")
    assert (c.verb, c.text) == (p.COMPLAIN, "the usher was rude")
    c = parse("投诉：演出推迟了没人通知")
    assert (c.verb, c.text, c.language) == (p.COMPLAIN, "演出推迟了没人通知", "zh")
    assert parse("投诉").problem == "text"
    assert (parse("5").verb, parse("5").score) == (p.SURVEY, 5)
    assert parse("５").score == 5
    c = parse("482-117-730 4")
    assert (c.score, c.ticket_number) == (4, "482-117-730")
    assert parse("482117730，3").ticket_number == "482-117-730"
    assert parse("9").verb == p.TEXT
    assert parse("0").verb == p.TEXT


def test_language_and_normalising() -> None:
    assert parse("BOOK JAY2026 2").language == "en"
    assert parse("订票 JAY2026 2").language == "zh"
    assert p.normalise("Ａ\u3000\u3000B\tC\x07") == "A B C"
    long = parse("x" * 5000)
    assert long.verb == p.TEXT and len(long.masked) <= p.MAX_BODY


def test_usual_replies_fit_one_segment() -> None:
    """With the longest values they take (8-character order numbers, five-digit amounts)."""
    values = {
        "number": "ABCD2345",
        "until": "23:59",
        "subtotal": "76000",
        "booking": "5",
        "delivery": "15",
        "total": "76020",
        "currency": "CNY",
        "status": "awaiting payment",
        "refund": "",
        "ticket": "482-117-730",
        "code": "JAY2026-VIP-ROW",
        "verb": "CANCEL",
        "seconds": 3600,
        "title": "周杰伦嘉年华世界巡回演唱会上海站",
        "venue": "上海体育场",
        "starts": "12-24 19:30",
        "price": "1280",
        "available": 100,
    }
    long_ok = {"help", "info", "booked", "usage_book", "usage_order_pin"}  # may take two
    for kind, by_language in TEXTS.items():
        for language in by_language:
            reply = text(kind, language, **values)
            if kind not in long_ok:
                assert segments(reply) == 1, (kind, language, reply)
            assert segments(reply) <= 2, (kind, language, reply)
