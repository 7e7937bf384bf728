"""What integrators need beyond what Litestar infers: the bearer scheme on guarded routes, the
Idempotency-Key header where it is honoured, the shape of raw-body webhooks (read as bytes for
their signatures, so Litestar sees no body) and request examples.

Everything is keyed by operationId (the handler's name in camelCase), so a renamed handler
fails tests/integration/test_openapi_contract.py instead of silently losing its docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.openapi.spec import (
    Example,
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)

BEARER = "bearer"
SECURITY_SCHEMES: dict[str, Any] = {
    BEARER: SecurityScheme(
        type="http",
        scheme="bearer",
        bearer_format="JWT",
        description="Token from POST /v1/auth/token (customers) or /v1/auth/agent-token (agents).",
    )
}

# operationId -> the key is required (money moves) or optional (replays when present)
IDEMPOTENT: dict[str, bool] = {
    "createPayment": True,
    "createRefund": True,
    "createOrder": False,
    "cancelOrder": False,
    "openTicket": False,
}

_STR = Schema(type=OpenAPIType.STRING)


def _object(description: str, **props: Schema | Reference) -> Schema:
    return Schema(type=OpenAPIType.OBJECT, description=description, properties=dict(props))


# Webhooks whose raw bytes are signed: documented here, read by the handler as bytes.
RAW_BODIES: dict[str, RequestBody] = {
    "stripeWebhook": RequestBody(
        required=True,
        description="A Stripe event, signed in `Stripe-Signature` (300 s tolerance).",
        content={
            "application/json": OpenAPIMediaType(
                schema=_object(
                    "Stripe event (payment_intent.*, charge.refunded, charge.dispute.*)",
                    id=_STR,
                    type=_STR,
                    data=_object("`object` is the PaymentIntent, charge or dispute"),
                )
            )
        },
    ),
    "partnerCallback": RequestBody(
        required=True,
        description="A partner's status event, signed in `Hotline-Signature` with its secret.",
        content={
            "application/json": OpenAPIMediaType(
                schema=_object(
                    "Shipment status update",
                    event_id=_STR,
                    shipment_id=_STR,
                    status=Schema(
                        type=OpenAPIType.STRING,
                        enum=["in_transit", "delivered", "failed", "returned"],
                    ),
                    occurred_at=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.DATE_TIME),
                    tracking_number=_STR,
                ),
                example={
                    "event_id": "ev-20261224-0001",
                    "shipment_id": "9f1c2e4d5a6b4c7d8e9f0a1b2c3d4e5f",
                    "status": "delivered",
                    "occurred_at": "2026-12-24T10:15:00+08:00",
                },
            )
        },
    ),
}

# Twilio's form posts, parsed from the body by the route (api/controllers/sms.py) and signed
# in X-Twilio-Signature; other fields are tolerated.
_FORM = "application/x-www-form-urlencoded"
RAW_BODIES["inboundSms"] = RequestBody(
    required=True,
    description="An inbound text as Twilio posts it, signed in `X-Twilio-Signature`.",
    content={
        _FORM: OpenAPIMediaType(
            schema=_object(
                "Twilio's inbound message form",
                From=_STR,
                To=_STR,
                Body=_STR,
                MessageSid=_STR,
                NumSegments=_STR,
            ),
            example={
                "From": "+8613800138000",
                "To": "+8610086",
                "Body": "STATUS",
                "MessageSid": "SM0123456789abcdef0123456789abcdef",
                "NumSegments": "1",
            },
        )
    },
)
RAW_BODIES["smsStatus"] = RequestBody(
    required=True,
    description="A delivery-status callback as Twilio posts it, signed in `X-Twilio-Signature`.",
    content={
        _FORM: OpenAPIMediaType(
            schema=_object(
                "Twilio's status callback form",
                MessageSid=_STR,
                MessageStatus=_STR,
                ErrorCode=_STR,
            ),
            example={
                "MessageSid": "SM0123456789abcdef0123456789abcdef",
                "MessageStatus": "delivered",
            },
        )
    },
)

# A counterparty's file, streamed to the database as it arrives (columns: README).
RAW_BODIES["importFile"] = RequestBody(
    required=True,
    description="The CSV file itself (UTF-8, a byte-order mark allowed; columns in README).",
    content={
        "text/csv": OpenAPIMediaType(
            schema=Schema(type=OpenAPIType.STRING, description="CSV with a header line"),
            example=(
                "phone,charge_id,amount,currency,charged_at,status,settlement_date\n"
                "+8613800138000,3f2a9c1e0b7d4e5f8a6b5c4d3e2f1a0b,128.00,CNY,"
                "2026-12-01T10:15:00+08:00,charged,2026-12-02\n"
            ),
        )
    },
)

EXAMPLES: dict[str, dict[str, Any]] = {
    "token": {"phone": "+8613800138000", "pin": "274915"},
    "agentToken": {"username": "agent", "password": "hotline-demo-2026"},
    "createOrder": {
        "items": [{"offer_id": "3b9c1f0e6a2d4e5f8a7b6c5d4e3f2a1b", "quantity": 2}],
        "delivery": {"method": "e_ticket"},
    },
    "createPayment": {"method": "carrier_billing"},
    "createReconciliation": {"source": "stripe", "from": "2026-12-01", "to": "2026-12-01"},
    "resolveItem": {"note": "运营商四舍五入 operator rounding, credit note CN-0042"},
    "createRefund": {"reason": "演出取消 Event cancelled", "amount": 68000},
    "topUp": {"amount": 20000, "reference": "counter-0042", "credit_limit": 20000},
    "openTicket": {
        "category": "billing",
        "priority": "high",
        "subject": "重复扣费 Charged twice",
        "description": "同一订单被扣了两次话费。",
        "customer_id": "5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b",
    },
}


def _idempotency_header(required: bool) -> Parameter:
    when = "Required" if required else "Optional"
    return Parameter(
        name="Idempotency-Key",
        param_in="header",
        required=required,
        schema=Schema(type=OpenAPIType.STRING, max_length=255),
        description=(
            f"{when}. A retry with the same key and body replays the first answer "
            "(`Idempotent-Replayed: true`); another body is 422 `idempotency-conflict`; "
            "while the first is running, 409 `idempotency-in-progress`. Kept 24 h."
        ),
        example="7d3c1f7e-2b8a-4c55-9a61-0c1e5b7f9a20",
    )


@dataclass
class HotlineOperation(Operation):
    """Litestar builds every operation through this class (handler `operation_class`)."""

    def __post_init__(self) -> None:
        op_id = self.operation_id or ""
        if op_id in IDEMPOTENT:
            self.parameters = [*(self.parameters or []), _idempotency_header(IDEMPOTENT[op_id])]
        if op_id in RAW_BODIES:
            self.request_body = RAW_BODIES[op_id]
        body = self.request_body
        if op_id in EXAMPLES and isinstance(body, RequestBody):
            for media in body.content.values():
                media.examples = {"example": Example(value=EXAMPLES[op_id])}


def operation_id(handler: Any, method: Any, path_components: Any) -> str:
    """`create_payment` -> `createPayment`: readable in generated clients."""
    head, *rest = handler.handler_name.split("_")
    return head + "".join(part.title() for part in rest)
