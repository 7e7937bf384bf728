"""The call record's per-step statements as plain SQL on asyncpg's own pool (core/drivers.py),
for the steps that write nothing but the call's record: every call's first webhook, a menu
choice, the hand-off and the status callback. Each is one autocommitted statement; through
the ORM session each cost a BEGIN, the statement and a COMMIT with SQLAlchemy's bookkeeping,
about three times the CPU of the step's other work (bench/voice.py). A step that also writes
elsewhere (the PIN's audit row, a payment, an SMS) keeps using ticketing/calls.py in its
session, so the record commits with what it describes. PostgreSQL only; the same guards as
ticketing/calls.py (status in the WHERE clause), the same columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from core.db import new_id

from .calls import MAX_PATH, QUEUES

_OPEN = (
    "INSERT INTO voice_calls (id, call_sid, from_phone, to_phone, customer_id, language,"
    " menu_path, verification, status, started_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, '[]'::json, 'none', 'menu', $7)"
    " ON CONFLICT (call_sid) DO NOTHING"
)
_STEP = "UPDATE voice_calls SET menu_path = $2::json, language = $3 WHERE call_sid = $1"
_ENQUEUE = (
    "UPDATE voice_calls SET status = 'waiting', queue = $2, enqueued_at = $3,"
    " menu_path = $4::json, language = $5 WHERE call_sid = $1 AND status = 'menu'"
)
_END = (
    "UPDATE voice_calls SET status = 'ended',"
    " outcome = CASE status WHEN 'menu' THEN $2 WHEN 'waiting' THEN 'abandoned'"
    " ELSE 'handled' END,"
    " provider_status = $3,"
    " duration_seconds = COALESCE($4::integer,"
    " GREATEST(0, EXTRACT(EPOCH FROM ($5 - started_at)))::integer),"
    " ended_at = $5"
    " WHERE call_sid = $1 AND status <> 'ended' RETURNING outcome"
)


def _path(path: list[str]) -> str:
    return msgspec.json.encode(path[-MAX_PATH:]).decode()


async def open_call_on(
    driver: Any,
    *,
    call_sid: str,
    from_phone: str,
    to_phone: str,
    customer_id: str | None,
    language: str,
    now: datetime,
) -> bool:
    """False when the CallSid has a record already, as calls.open_call."""
    done = await driver.execute(
        _OPEN, new_id(), call_sid[:64], from_phone[:32], to_phone[:32], customer_id, language, now
    )
    return str(done).endswith(" 1")


async def note_step_on(driver: Any, call_sid: str, *, path: list[str], language: str) -> None:
    await driver.execute(_STEP, call_sid, _path(path), language)


async def enqueue_call_on(
    driver: Any, call_sid: str, queue: str, now: datetime, *, path: list[str], language: str
) -> bool:
    if queue not in QUEUES:
        raise ValueError(queue)
    done = await driver.execute(_ENQUEUE, call_sid, queue, now, _path(path), language)
    return str(done).endswith(" 1")


async def end_call_on(
    driver: Any,
    call_sid: str,
    *,
    provider_status: str,
    duration_seconds: int | None,
    now: datetime,
    self_served: bool = False,
) -> str | None:
    outcome = await driver.fetchval(
        _END,
        call_sid,
        "self_service" if self_served else "hung_up_in_menu",
        provider_status[:20],
        duration_seconds,
        now,
    )
    return str(outcome) if outcome is not None else None
