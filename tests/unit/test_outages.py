"""Which errors are outages (503 `unavailable`) and which stay bugs (500)."""

from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from sqlalchemy.exc import DBAPIError, IntegrityError

from api.outages import outage


def wrapped(orig: BaseException, *, invalidated: bool = False) -> DBAPIError:
    return DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)


def test_lost_connections_are_outages() -> None:
    assert outage(wrapped(Exception("closed"), invalidated=True)) == "database"
    assert outage(asyncpg.exceptions.ConnectionDoesNotExistError("gone")) == "database"
    assert outage(asyncpg.exceptions.AdminShutdownError("terminating")) == "database"
    assert outage(asyncpg.exceptions.CannotConnectNowError("starting up")) == "database"
    assert outage(wrapped(asyncpg.exceptions.InterfaceError("connection is closed"))) == "database"
    assert outage(ConnectionRefusedError(111, "refused")) == "database"
    too_many = asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")
    assert outage(wrapped(too_many)) == "database"
    assert outage(RedisConnectionError("Error 111")) == "redis"


def test_other_errors_stay_bugs() -> None:
    assert outage(IntegrityError("INSERT", None, Exception("duplicate key"))) is None
    assert outage(wrapped(asyncpg.exceptions.UniqueViolationError("dup"))) is None
    assert outage(asyncpg.exceptions.InterfaceError("another operation is in progress")) is None
    assert outage(ResponseError("WRONGTYPE")) is None
    assert outage(FileNotFoundError(2, "no such file")) is None
    assert outage(ValueError("bad")) is None


def test_only_explicit_causes_are_followed() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError:
            raise KeyError("a bug while handling it") from None
    except KeyError as bug:
        assert outage(bug) is None
    explicit = RuntimeError("wrapper")
    explicit.__cause__ = asyncpg.exceptions.ConnectionDoesNotExistError("gone")
    assert outage(explicit) == "database"
