"""The shape of a signed Stripe event, checked once where it enters (webhooks.parse_event).

The signature only proves the sender holds our secret, not that the body is an event: one
without an id, with `data.object` a string or a metadata that is no object would fail deep in
the handler as a 500. Here it is 400 `not-an-event` naming the field, so the handlers may
read every field they use at its type. Only what a handler reads is checked, and only for
the types handled: an event of any other type needs just its envelope to be acknowledged.
"""

from __future__ import annotations

from typing import Any

from payments.errors import NotAnEvent

HANDLED = frozenset(
    {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "charge.refunded",
        "charge.dispute.created",
    }
)
# A payout arrived (or Stripe finished attributing its transactions): finance imports and
# reconciles it, through the outbox after this commit (no Stripe call in the webhook).
PAYOUT_EVENTS = frozenset({"payout.paid", "payout.reconciliation_completed"})

_ID, _TEXT, _OBJECT = "a non-empty string", "a string or null", "an object or null"


def _refuse(field: str, must: str) -> NotAnEvent:
    message = f"must be {must}"
    return NotAnEvent(
        f"not a Stripe event: {field} {message}", errors=[{"field": field, "message": message}]
    )


def _id(obj: dict[str, Any], key: str, where: str) -> None:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _refuse(f"{where}.{key}".lstrip("."), _ID)


def _optional(obj: dict[str, Any], key: str, kind: type, must: str, where: str) -> None:
    value = obj.get(key)
    if value is not None and not isinstance(value, kind):
        raise _refuse(f"{where}.{key}", must)


def check_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as given, once every field the handlers read has its type; else NotAnEvent."""
    _id(event, "id", "")
    if not isinstance(event.get("type"), str):
        raise _refuse("type", "a string")
    data = event.get("data")
    if not isinstance(data, dict):
        raise _refuse("data", "an object")
    obj = data.get("object")
    if not isinstance(obj, dict):
        raise _refuse("data.object", "an object")
    kind, where = event["type"], "data.object"
    if kind in PAYOUT_EVENTS:
        _id(obj, "id", where)
    if kind not in HANDLED:
        return event
    _optional(obj, "metadata", dict, _OBJECT, where)
    _optional(obj.get("metadata") or {}, "payment_id", str, _TEXT, f"{where}.metadata")
    if kind.startswith("payment_intent.") or kind == "charge.dispute.created":
        _id(obj, "id", where)  # the intent asked for, or the dispute
    if kind.startswith("charge."):
        _optional(obj, "payment_intent", str, _TEXT, where)
    if kind == "charge.dispute.created":
        _optional(obj, "reason", str, _TEXT, where)
        charge = obj.get("charge")
        if isinstance(charge, dict):  # expanded: its intent is read when the dispute has none
            _optional(charge, "payment_intent", str, _TEXT, f"{where}.charge")
        elif charge is not None and not isinstance(charge, str):
            raise _refuse(f"{where}.charge", "a charge id, a charge or null")
    return event
