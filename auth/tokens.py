"""Bearer tokens: HS256 JWTs carrying kind, id, roles and a token version (revocation)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

from core.errors import Unauthorized
from core.principal import Principal

ALGORITHM = "HS256"
ISSUER = "hotline"


def issue(
    secret: str, principal: Principal, *, version: int, now: datetime, minutes: int
) -> tuple[str, int]:
    claims = {
        "iss": ISSUER,
        "sub": principal.id,
        "knd": principal.kind,
        "rol": sorted(principal.roles),
        "ver": version,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM), minutes * 60


def decode(secret: str, token: str, *, now: datetime) -> tuple[Principal, int]:
    """Return (principal, token version) or raise Unauthorized."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Unauthorized("invalid token") from None
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now.timestamp():
        raise Unauthorized("token expired")
    kind, sub, roles, ver = (
        claims.get("knd"),
        claims.get("sub"),
        claims.get("rol"),
        claims.get("ver"),
    )
    if kind not in ("customer", "agent") or not isinstance(sub, str) or not isinstance(ver, int):
        raise Unauthorized("invalid token")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise Unauthorized("invalid token")
    return Principal(kind=kind, id=sub, roles=frozenset(roles)), ver
