"""Bearer tokens: HS256 JWTs carrying kind, id, roles and a token version (revocation)."""

from __future__ import annotations

from collections import OrderedDict
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


# Tokens already verified, by (secret, token): each request of a session presents the same
# token, and PyJWT's parse + HMAC is a visible share of a trivial GET. Only good tokens are
# kept, expiry is checked on every use, and revocation is the token-version lookup's job.
_VERIFIED: OrderedDict[tuple[str, str], tuple[Principal, int, int]] = OrderedDict()
_VERIFIED_MAX = 4096


def decode(secret: str, token: str, *, now: datetime) -> tuple[Principal, int]:
    """Return (principal, token version) or raise Unauthorized."""
    hit = _VERIFIED.get((secret, token))
    if hit is not None:
        principal, version, exp = hit
        if exp <= now.timestamp():
            raise Unauthorized("token expired")
        return principal, version
    principal, version, exp = _verify(secret, token, now=now)
    _VERIFIED[(secret, token)] = (principal, version, exp)
    if len(_VERIFIED) > _VERIFIED_MAX:
        _VERIFIED.popitem(last=False)
    return principal, version


def _verify(secret: str, token: str, *, now: datetime) -> tuple[Principal, int, int]:
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
    return Principal(kind=kind, id=sub, roles=frozenset(roles)), ver, exp
