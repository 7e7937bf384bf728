"""What the SMS channel answers, in Chinese and English. The usual replies fit one segment
(70 UCS-2 characters in Chinese, 160 GSM-7 in English; tests/unit/sms checks them with the
longest values they take): a reply that costs two segments costs the operator twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

TEXTS: dict[str, dict[str, str]] = {
    "help": {
        "zh": "Hotline短信：查询｜详情 代码｜订票 代码 张数｜支付 订单号 密码｜刷卡 订单号"
        "｜状态｜取消 订单号 密码｜电子票｜投诉 内容",
        "en": "Hotline SMS: LIST, INFO <code>, BOOK <code> <qty>, PAY <order> <PIN>, "
        "CARD <order>, STATUS, CANCEL <order> <PIN>, TICKET, COMPLAIN <text>, STOP",
    },
    "enroll": {
        "zh": "本号码未注册Hotline。请致电客服或在网站注册后再发短信。",
        "en": "Hotline: this number is not registered. Call us or sign up on the web, "
        "then text HELP.",
    },
    "flood": {
        "zh": "短信过多，本号码暂停回复一小时。",
        "en": "Hotline: too many messages. We will not answer this number for an hour.",
    },
    "usage_book": {
        "zh": "格式：订票 代码 张数，如“订票 JAY2026 2”；快递加“快递 地址”。",
        "en": "Format: BOOK <code> <qty>, e.g. BOOK JAY2026 2; add COURIER <address> for delivery.",
    },
    "usage_address": {"zh": "请在“快递”后写收件地址。", "en": "Write the address after COURIER."},
    "usage_order_pin": {
        "zh": "格式：{verb} 订单号 密码，如“{verb} ABCD2345 123456”。",
        "en": "Format: {verb} <order no> <PIN>, e.g. {verb} ABCD2345 <your 6-digit PIN>.",
    },
    "usage_order": {
        "zh": "格式：{verb} 订单号，如“{verb} ABCD2345”。",
        "en": "Format: {verb} <order no>, e.g. {verb} ABCD2345.",
    },
    "usage_code": {"zh": "格式：详情 代码，如“详情 JAY2026”。", "en": "Format: INFO <code>."},
    "usage_list": {
        "zh": "格式：查询 [演出|火车|航班|酒店] [日期如12-24]。",
        "en": "Format: LIST [event|train|flight|hotel] [date, e.g. 12-24].",
    },
    "usage_text": {"zh": "格式：投诉 内容。", "en": "Format: COMPLAIN <what happened>."},
    "list_empty": {"zh": "暂无可订项目。", "en": "Nothing bookable right now."},
    "list_more": {"zh": "订票回复：订票 代码 张数", "en": "Reply BOOK <code> <qty>"},
    "info": {
        "zh": "{code} {title}，{venue}，{starts}，{price}元，余{available}。",
        "en": "{code} {title}, {venue}, {starts}, {price} {currency}, {available} left.",
    },
    "no_offer": {
        "zh": "没有代码为 {code} 的项目。回复“查询”看列表。",
        "en": "No offer {code}. Text LIST.",
    },
    "sold_out": {"zh": "{code} 已售完或余量不足。", "en": "{code} is sold out or too few left."},
    "booked": {
        "zh": "订单{number}保留至{until}：票{subtotal}+订票费{booking}+送票费{delivery}"
        "={total}元。回复“支付 {number} 密码”",
        "en": "Order {number} held till {until}: {subtotal} + booking fee {booking} + "
        "delivery {delivery} = {total} {currency}. Pay: PAY {number} <PIN> or CARD {number}",
    },
    "paid": {
        "zh": "订单{number}已从话费扣款{total}元，电子票稍后短信发送。",
        "en": "Order {number}: {total} {currency} charged to your phone bill. Tickets follow "
        "by SMS.",
    },
    "no_credit": {
        "zh": "话费余额不足，未扣款。可回复“刷卡 {number}”用银行卡支付。",
        "en": "Not enough phone credit; nothing charged. Text CARD {number} to pay by card.",
    },
    "already_paid": {"zh": "订单{number}已支付。", "en": "Order {number} is already paid."},
    "not_payable": {
        "zh": "订单{number}{status}，不能支付。",
        "en": "Order {number} is {status}; it cannot be paid.",
    },
    "cards_off": {"zh": "暂不支持刷卡，请用话费支付。", "en": "Cards are off; pay with PAY."},
    "link_sent": {
        "zh": "订单{number}的支付链接已短信发送。",
        "en": "Order {number}: the pay link follows by SMS.",
    },
    "status_one": {
        "zh": "订单{number}：{status}，{total}元。",
        "en": "Order {number}: {status}, {total} {currency}.",
    },
    "no_orders": {"zh": "您还没有订单。", "en": "You have no orders yet."},
    "no_order": {"zh": "没有订单{number}。", "en": "No order {number}."},
    "cancelled": {
        "zh": "订单{number}已取消{refund}。",
        "en": "Order {number} cancelled{refund}.",
    },
    "refund_note": {"zh": "，已付款项将退回", "en": "; what you paid is refunded"},
    "cannot_cancel": {
        "zh": "订单{number}{status}，不能取消。",
        "en": "Order {number} is {status}; it cannot be cancelled.",
    },
    "eticket_resent": {
        "zh": "订单{number}的电子票已重发。",
        "en": "Order {number}: e-tickets sent again.",
    },
    "no_eticket": {"zh": "没有已出票的电子票订单。", "en": "No e-ticket order is issued yet."},
    "complaint": {
        "zh": "投诉已受理，工单号{ticket}，客服会尽快联系您。",
        "en": "Complaint received: ticket {ticket}. We will get back to you soon.",
    },
    "joined": {
        "zh": "已将您的回复加入工单{ticket}。",
        "en": "Your reply was added to ticket {ticket}.",
    },
    "pin_wrong": {
        "zh": "密码不正确，操作未执行。多次错误将锁定。",
        "en": "PIN not right; nothing was done. Repeated misses lock the account.",
    },
    "pin_wait": {
        "zh": "密码错误次数过多，请{seconds}秒后再试。",
        "en": "Too many PIN misses; try again in {seconds} s.",
    },
    "locked": {
        "zh": "账户已锁定，请在网站用验证码重置密码。",
        "en": "Account locked; reset your PIN with a one-time code on the web.",
    },
    "opted_out": {
        "zh": "已退订营销短信。回复“订阅”恢复。",
        "en": "You will get no marketing texts. Text START to undo.",
    },
    "opted_in": {"zh": "已恢复订阅。", "en": "You are subscribed again."},
    "busy": {"zh": "系统繁忙，请稍后重发。", "en": "Busy right now; please text again shortly."},
    "failed": {"zh": "暂时无法处理，请稍后再试。", "en": "We could not do that now; try later."},
}

STATUS_NAMES: dict[str, dict[str, str]] = {
    "awaiting_payment": {"zh": "待支付", "en": "awaiting payment"},
    "paid": {"zh": "已支付", "en": "paid"},
    "fulfilling": {"zh": "出票中", "en": "being issued"},
    "fulfilled": {"zh": "已出票", "en": "issued"},
    "expired": {"zh": "已过期", "en": "expired"},
    "cancelled": {"zh": "已取消", "en": "cancelled"},
    "refunded": {"zh": "已退款", "en": "refunded"},
}


def text(kind: str, language: str, **values: Any) -> str:
    return TEXTS[kind]["en" if language == "en" else "zh"].format(**values)


def amount(minor: int) -> str:
    """380.00 -> "380", 380.50 -> "380.50": short, since every character counts."""
    major, rest = divmod(minor, 100)
    return f"{major}" if rest == 0 else f"{major}.{rest:02d}"


def status_name(status: str, language: str) -> str:
    names = STATUS_NAMES.get(status)
    return names["en" if language == "en" else "zh"] if names else status


def local_time(at: datetime, zone: ZoneInfo, fmt: str = "%H:%M") -> str:
    return at.astimezone(zone).strftime(fmt)
