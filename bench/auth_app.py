"""App factories for bench/auth.py: the production app plus `/v1/me` behind each limiter.

- `with_our_limiter`: GET /v1/me/throttled counts a hit in Hotline's own per-address limiter
  (auth.throttle, the one on the credential routes) before answering like /v1/me.
- `with_litestar_limiter`: the same app with Litestar's built-in RateLimitMiddleware on every
  route (the cost the issue measured at 60-75% of a trivial request), limit set out of reach.
Kept out of api/ so no benchmark-only route is served in production.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, get
from litestar.middleware.rate_limit import RateLimitConfig

from api.app import create_app
from api.composition import Services
from api.security import PrincipalDep, customers_and_agents
from auth.schemas import MeOut


@get("/v1/me/throttled", include_in_schema=False, guards=[customers_and_agents])
async def me_throttled(request: Request[Any, Any, Any], principal: PrincipalDep) -> MeOut:
    # Only the count differs from /v1/me: no extra injected dependency to resolve.
    services: Services = request.app.state.services
    address = request.client.host if request.client else "unknown"
    await services.throttle.hit_address(f"bench:{address}", services.runtime.clock.now())
    return MeOut(principal.kind, principal.id, sorted(principal.roles))


def with_our_limiter() -> Litestar:
    return create_app(extra_routes=[me_throttled])


def with_litestar_limiter() -> Litestar:
    config = RateLimitConfig(rate_limit=("minute", 10**9))
    return create_app(middleware=[config.middleware])
