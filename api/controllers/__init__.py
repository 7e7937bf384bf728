"""Every room's HTTP surface, one module per room; each module exports ROUTES."""

from __future__ import annotations

from typing import Any

from api.controllers import (
    auth,
    calls,
    commerce,
    finance,
    fulfillment,
    notifications,
    payments,
    payments_staff,
    sms,
    ticketing,
    voice,
)

ROUTE_HANDLERS: list[Any] = [
    *auth.ROUTES,
    *commerce.ROUTES,
    *payments.ROUTES,
    *payments_staff.ROUTES,
    *finance.ROUTES,
    *fulfillment.ROUTES,
    *ticketing.ROUTES,
    *notifications.ROUTES,
    *sms.ROUTES,
    *voice.ROUTES,
    *calls.ROUTES,
]
