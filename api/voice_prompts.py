"""What the IVR says, in Chinese (zh-CN) and English (en-US). Texts only: api/voice_flow.py
decides which, and twilio's VoiceResponse renders them as <Say language=...>."""

from __future__ import annotations

from typing import Any

SAY_LANGUAGE = {"zh": "zh-CN", "en": "en-US"}

PROMPTS: dict[str, tuple[str, str]] = {
    "choose_language": ("中文服务请按1。", "For English, press 2."),
    "welcome": ("您好，欢迎致电热线。", "Welcome to Hotline."),
    "menu": (
        "查询最新订单状态请按1，用话费支付未付订单请按2，重发电子票请按3，"
        "查询投诉处理进度请按4，人工服务请按0。",
        "For your latest order's status, press 1. To pay an unpaid order from your phone "
        "account, press 2. To have your e-ticket sent again, press 3. To hear about your open "
        "complaints, press 4. To speak to an agent, press 0.",
    ),
    "invalid": ("输入有误。", "Sorry, that is not a choice."),
    "no_input": ("我们没有收到您的按键。", "We did not hear a key."),
    "pin": (
        "请输入您的六位服务密码，以井号键结束。",
        "Please enter your six-digit service PIN, then press the hash key.",
    ),
    "pin_wrong_again": (
        "密码不正确，请重新输入，以井号键结束。",
        "That PIN is not right. Please enter it again, then press the hash key.",
    ),
    "pin_failed": (
        "密码验证未通过，正在为您转接人工服务。",
        "We could not verify your PIN. We are putting you through to an agent.",
    ),
    "pin_locked": (
        "尝试次数过多，正在为您转接人工服务。",
        "Too many attempts. We are putting you through to an agent.",
    ),
    "unknown_caller": (
        "未找到与此号码关联的账户，正在为您转接人工服务。",
        "We found no account for this number. We are putting you through to an agent.",
    ),
    "no_orders": ("您目前没有订单。", "You have no orders yet."),
    "order_status": (
        "您最新的订单，订单号 {number}，{title}，状态：{status}。",
        "Your latest order, number {number}, {title}, is {status}.",
    ),
    "no_unpaid": ("您没有待支付的订单。", "You have no order waiting for payment."),
    "pay_offer": (
        "订单号 {number}，{title}，应付 {amount}。用话费支付请按1，返回主菜单请按星号键。",
        "Order {number}, {title}, comes to {amount}. To pay it from your phone account, "
        "press 1. To go back to the menu, press star.",
    ),
    "paid": (
        "支付成功，订单 {number} 已支付 {amount}。",
        "Thank you. Order {number} is paid: {amount}.",
    ),
    "already_paid": ("该订单已支付。", "That order is paid already."),
    "insufficient_credit": (
        "话费余额不足，未能支付。",
        "Your phone account does not have enough credit; nothing was charged.",
    ),
    "not_payable": (
        "该订单已不能支付。",
        "That order can no longer be paid.",
    ),
    "eticket_resent": (
        "订单 {number} 的电子票已重新发送到您的手机。",
        "The e-ticket of order {number} is on its way to your phone again.",
    ),
    "no_eticket": ("没有可重发的电子票。", "You have no e-ticket to send again."),
    "no_complaints": ("您没有处理中的投诉。", "You have no open complaints."),
    "complaints": (
        "您有{count}个处理中的投诉。{items}",
        "You have {count} open complaints. {items}",
    ),
    "complaint": ("投诉 {number}，状态：{status}。", "Complaint {number} is {status}."),
    "to_agent": (
        "正在为您转接人工服务，请稍候。",
        "Please hold: we are putting you through to an agent.",
    ),
}

ORDER_STATUS = {
    "awaiting_payment": ("待支付", "waiting for payment"),
    "paid": ("已支付", "paid"),
    "fulfilling": ("配送中", "on its way"),
    "fulfilled": ("已完成", "delivered"),
    "expired": ("已过期", "expired"),
    "cancelled": ("已取消", "cancelled"),
    "refunded": ("已退款", "refunded"),
}

TICKET_STATUS = {
    "new": ("已受理", "received"),
    "open": ("处理中", "being handled"),
    "pending_customer": ("等待您的回复", "waiting for your reply"),
    "pending_partner": ("等待合作方处理", "waiting for our partner"),
    "reopened": ("已重新打开", "reopened"),
}


def say(language: str, key: str, **values: Any) -> str:
    zh, en = PROMPTS[key]
    return (en if language == "en" else zh).format(**values)


def word(table: dict[str, tuple[str, str]], language: str, key: str) -> str:
    zh, en = table.get(key, (key, key.replace("_", " ")))
    return en if language == "en" else zh


def amount(language: str, minor: int, currency: str) -> str:
    major, cents = divmod(minor, 100)
    if language == "en":
        return f"{major}.{cents:02d} {'yuan' if currency == 'CNY' else currency}"
    return f"{major}.{cents:02d}{'元' if currency == 'CNY' else currency}"


def spelled(code: str) -> str:
    """An order or ticket number read one character at a time ("9 Q R 9")."""
    return " ".join(ch for ch in code if ch.isalnum())
