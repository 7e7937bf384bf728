"""Code words the pages show through `_()` with a variable (statuses, kinds, methods...):
listed here so `pybabel extract` finds them and both catalogues translate them."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    return message


CODE_WORDS = (
    # orders, payments, shipments
    N_("awaiting_payment"),
    N_("paid"),
    N_("fulfilling"),
    N_("fulfilled"),
    N_("expired"),
    N_("cancelled"),
    N_("refunded"),
    N_("pending"),
    N_("succeeded"),
    N_("failed"),
    N_("unknown"),
    N_("requires_action"),
    N_("dispatched"),
    N_("delivered"),
    N_("accepted"),
    N_("carrier_billing"),
    N_("card"),
    N_("courier"),
    N_("e_ticket"),
    # offers
    N_("event"),
    N_("train"),
    N_("flight"),
    N_("hotel"),
    # tickets
    N_("new"),
    N_("open"),
    N_("pending_customer"),
    N_("pending_partner"),
    N_("resolved"),
    N_("reopened"),
    N_("closed"),
    N_("service"),
    N_("product"),
    N_("delivery"),
    N_("billing"),
    N_("payment"),
    N_("other"),
    N_("low"),
    N_("normal"),
    N_("high"),
    N_("urgent"),
    N_("phone"),
    N_("sms"),
    N_("web"),
    N_("email"),
    N_("app"),
    N_("system"),
    N_("first_response"),
    N_("next_response"),
    N_("resolution"),
    N_("warn75"),
    N_("warn90"),
    N_("breach"),
    N_("created"),
    N_("status"),
    N_("assignment"),
    N_("comment"),
    N_("priority"),
    N_("queue"),
    N_("escalation"),
    N_("refund"),
    N_("satisfaction"),
    N_("followup"),
    N_("category"),
    N_("orders"),
    N_("reason"),
    N_("assignee"),
    # search hits, SMS purposes
    N_("customer"),
    N_("order"),
    N_("ticket"),
    N_("pay_link"),
    N_("eticket"),
    N_("otp"),
    N_("survey"),
    N_("notice"),
    N_("survey_sent"),
)

# A form field a 422 names (`errors[].field`) -> the label a person reads next to its message.
FIELD_LABELS: dict[str, str] = {
    "qty": N_("Seats"),
    "method": N_("Delivery"),
    "address": N_("Delivery address"),
    "delivery.address": N_("Delivery address"),
    "on": N_("Date"),
    "subject": N_("Subject"),
    "description": N_("Description"),
    "body": N_("Message"),
    "reason": N_("Reason"),
    "order_id": N_("Order"),
    "order": N_("Order"),
    "items": N_("Order"),
    "delivery.method": N_("Delivery"),
    "kind": N_("Kind"),
    "note": N_("Wrap-up note"),
    "category": N_("Category"),
    "priority": N_("Priority"),
    "ticket": N_("Ticket"),
    "ticket_id": N_("Ticket"),
    "to": N_("Move to"),
    "payment_method": N_("Payment"),  # the console's pay form (payments name it `method`)
    "name": N_("Name"),
    "locale": N_("Language"),
    "phone": N_("Phone"),
    "from": N_("Phone"),
    "pin": N_("PIN"),
    "pin2": N_("PIN"),
    "idempotency_key": N_("Form"),
}

# The messages of the 422s the pages' forms can meet, so they read in Chinese too. They must
# match the raising code word for word; one that drifts falls back to its English words.
FIELD_MESSAGES = (
    N_("a number of seats from 1 to 100"),  # web/shop/browse.py, commerce.MAX_QUANTITY
    N_("e_ticket or courier"),
    N_("must be e_ticket or courier"),  # commerce/domain.py, the API's words for the same
    N_("one of event, train, flight, hotel"),
    N_("the courier needs a full address"),
    N_("a courier needs an address"),
    N_("at most 500 characters"),
    N_("at most 300 characters"),  # a refund reason (payments.domain.check_refund_reason)
    N_("at most 120 characters"),
    N_("1 to 200 characters"),
    N_("1 to 10000 characters"),
    N_("1 to 2000 characters"),  # ticketing/call_notes.py MAX_NOTE
    N_("must be one of service, product, delivery, billing, payment, other"),
    N_("must be one of low, normal, high, urgent"),
    N_("pick the order the complaint is about"),
    N_("no such order for this customer"),
    N_("closed tickets take no comments"),
    N_("resolved and closed tickets are not assigned"),
    N_("no such ticket"),
    N_("this ticket is not linked to the order"),
    N_("has nothing to pay"),
    N_("must be card or carrier_billing"),
    N_("card payments are not configured here"),
    N_("say why the money goes back"),
    N_("a refund needs a reason"),
    N_("must not contain control characters"),
    N_("must not contain control characters (line breaks and tabs are fine)"),
    N_("must not contain the NUL character (0x00)"),
    N_("must be text in UTF-8"),  # api/input_guard.py, a form's bytes that are not UTF-8
    N_("the form has no key; reload the page"),
    N_("reload the order and try again"),
    N_("a date such as 2027-01-31"),
    N_("must be in the years 2000 to 2100"),  # core/dates.py FIRST_YEAR, LAST_YEAR
    N_("the two PINs differ"),
    N_("must be zh or en"),
)


# 413: the body is over the size the app takes (Litestar's "Request Entity Too Large").
TOO_LARGE = (N_("The form is too large to send."), N_("Shorten the text and send it again."))


def http_slug(status: int) -> str:
    """The advice a page gives for an HTTP error no handler named more closely."""
    named = {404: "not-found", 405: "not-found", 413: "too-large", 429: "throttled"}
    return named.get(status, "validation-error" if status < 500 else "error")


def field_errors(errors: list[dict[str, Any]] | None) -> list[tuple[str, str]]:
    """(label msgid, message msgid) per named field, for a page to translate and show."""
    return [
        (FIELD_LABELS.get(str(e.get("field")), str(e.get("field"))), str(e.get("message", "")))
        for e in errors or []
        if e.get("field")
    ]
