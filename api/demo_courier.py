"""The demo courier: in demo mode the app itself answers the seeded `ems` partner's dispatches,
so `make run` ships courier orders without a separate process.

It is the partner side of docs/http-api.md's dispatch contract, served on the app only when
HOTLINE_ENV=demo (api/app.py): it checks our `Hotline-Signature` with the seeded partner's
secret and accepts with a tracking number, as a real courier's endpoint would.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, post

from api.seeds.fulfillment import DEMO_PARTNER_SECRET
from fulfillment import verify_signature

PATH = "/demo/courier/dispatch"


@post(PATH, include_in_schema=False, status_code=200)
async def demo_courier_dispatch(request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
    raw = await request.body()
    reason = verify_signature(
        DEMO_PARTNER_SECRET, raw, request.headers.get("Hotline-Signature"), int(time.time())
    )
    if reason is not None:
        return Response({"error": reason}, status_code=401)
    key = request.headers.get("Idempotency-Key", "")
    # The same shipment (Idempotency-Key) always gets the same tracking number.
    return Response({"tracking_number": f"DEMO-EMS-{key[:12].upper()}"}, status_code=200)


ROUTES: list[Any] = [demo_courier_dispatch]
