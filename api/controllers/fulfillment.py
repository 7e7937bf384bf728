"""HTTP surface of the fulfillment room (controllers only; rules live in fulfillment/)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import FromPath

from api.deps import RuntimeDep, ServicesDep, SessionDep
from fulfillment import apply_partner_callback


@post(
    "/v1/webhooks/partners/{code:str}",
    tags=["fulfillment"],
    summary="Signed status update from a delivery partner",
    status_code=200,
    opt={
        "problems": {
            400: "The body is not JSON, or nests too deep",
            401: "Bad or stale signature",
            404: "Unknown shipment",
        },
        "raw_body": True,
    },
)
async def partner_callback(
    code: FromPath[str],
    request: Request[Any, Any, Any],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
) -> dict[str, str]:
    raw = await request.body()
    outcome = await apply_partner_callback(
        session,
        code,
        raw,
        request.headers.get("Hotline-Signature"),
        now=runtime.clock.now(),
        orders=services.fulfillment.orders,
    )
    return {"outcome": outcome}


ROUTES: list[Any] = [partner_callback]
try:  # the admin/customer routes need the auth room's guards (api/security.py)
    from api.controllers.fulfillment_staff import ROUTES as _STAFF_ROUTES
except ModuleNotFoundError as exc:  # until auth lands
    if exc.name != "api.security":
        raise
else:
    ROUTES += _STAFF_ROUTES
