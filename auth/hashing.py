"""argon2id hashing (argon2-cffi). Production uses RFC 9106's second recommendation."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


@lru_cache(maxsize=2)
def hasher(env: str) -> PasswordHasher:
    if env == "test":
        # settings.env == "test" only: cheaper, still argon2id (the suite makes many customers)
        return PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    # RFC 9106 second recommended option: m=64 MiB, t=3, p=4 (above ASVS 5.0's minimum)
    return PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


def hash_secret(env: str, secret: str) -> str:
    return hasher(env).hash(secret)


def verify_secret(env: str, stored: str | None, secret: str) -> bool:
    """Constant work whether or not `stored` exists: a dummy hash is checked for unknown users."""
    h = hasher(env)
    try:
        return h.verify(stored or _dummy(env), secret) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=2)
def _dummy(env: str) -> str:
    return hasher(env).hash("dummy-secret-never-matches")


async def hash_secret_async(env: str, secret: str) -> str:
    """argon2 releases the GIL: hash in a thread so the event loop keeps serving."""
    return await asyncio.to_thread(hash_secret, env, secret)


async def verify_secret_async(env: str, stored: str | None, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, env, stored, secret)
