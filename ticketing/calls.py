"""Call records and skill queues of the voice channel (docs/http-api.md, Calls).

Ticketing owns them because it already owns the agents' queues and load; the IVR itself (the
menu, its state, what it reads and pays) lives in the api entry point, which may reach
payments and fulfillment where ticketing may not. Every state change is one conditional
UPDATE on the call's row (`status` guards the move), so a retried webhook, a status callback
racing an answer or two agents clicking "answer" at once change the record once.

States: menu -> waiting -> answered -> ended, or menu -> ended (self-service or a hang-up in
the menu: `outcome` says which). The provider's status callback ends a call in any state; an
agent's wrap-up may come after the end (the agent types the code once the line is down).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

import auth
from core.db import new_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.paging import Page, keyset, page_of

from .models import Call, Ticket

QUEUES = ("billing", "delivery", "general")  # the skill queues a caller can be put in
STATUSES = ("menu", "waiting", "answered", "ended")
VERIFICATIONS = ("none", "verified", "failed", "locked")
MAX_PATH = 40  # menu steps kept per call (a caller pressing keys for an hour stops growing it)

# Built once: every step of every call runs one of these (see core/idempotency.py).
_T: Any = Call.__table__
_OPEN = {
    name: dialect.insert(_T).on_conflict_do_nothing(index_elements=["call_sid"]).returning(_T.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_STEP = update(_T).where(_T.c.call_sid == bindparam("sid"))
_ENQUEUE = update(_T).where(_T.c.call_sid == bindparam("sid"), _T.c.status == "menu")
_END = (
    update(_T)
    .where(_T.c.call_sid == bindparam("sid"), _T.c.status != "ended")
    .values(
        status="ended",
        outcome=case(
            (_T.c.status == "menu", bindparam("menu_outcome")),
            (_T.c.status == "waiting", "abandoned"),
            else_="handled",
        ),
        provider_status=bindparam("provider_status"),
        duration_seconds=bindparam("duration"),
        ended_at=bindparam("now"),
    )
    .returning(_T.c.outcome, _T.c.started_at)
)


@dataclass(frozen=True)
class CallView:
    """A call with the verification the console shows ("verified by keypad")."""

    call: Call
    verification: auth.CallerVerification | None

    @property
    def verified_by_keypad(self) -> bool:
        v = self.verification
        return v is not None and v.channel == "ivr" and self.call.verification == "verified"

    def wait_seconds(self, now: datetime) -> int | None:
        """Time in the queue: until answered, until the caller hung up, or so far."""
        c = self.call
        if c.enqueued_at is None:
            return None
        until = c.answered_at or (c.ended_at if c.status == "ended" else None) or now
        return max(0, int((until - c.enqueued_at).total_seconds()))


async def open_call(
    session: AsyncSession,
    *,
    call_sid: str,
    from_phone: str,
    to_phone: str,
    customer_id: str | None,
    language: str,
    now: datetime,
) -> bool:
    """The record of a new call, in one statement (it runs on every call); False when the
    CallSid has one already (the provider retried its first webhook)."""
    dialect = session.get_bind().dialect.name
    opened = await session.execute(
        _OPEN[dialect],
        {
            "id": new_id(),
            "call_sid": call_sid[:64],
            "from_phone": from_phone[:32],
            "to_phone": to_phone[:32],
            "customer_id": customer_id,
            "language": language,
            "menu_path": [],
            "verification": "none",
            "status": "menu",
            "started_at": now,
        },
    )
    return opened.first() is not None


async def find_call(session: AsyncSession, call_sid: str) -> Call | None:
    found: Call | None = await session.scalar(select(Call).where(Call.call_sid == call_sid))
    return found


async def get_call(session: AsyncSession, call_sid: str) -> Call:
    found = await find_call(session, call_sid) if call_sid else None
    if found is None:
        raise NotFound("no such call")
    return found


async def note_step(
    session: AsyncSession,
    call_sid: str,
    *,
    path: list[str],
    language: str,
    customer_id: str | None = None,
    verification: str | None = None,
    verification_id: str | None = None,
) -> None:
    """Write where the caller is in the menu (never a digit of a PIN: callers of this pass
    `pin:ok` / `pin:wrong` steps, not what was typed)."""
    values: dict[str, object] = {
        "sid": call_sid,
        "menu_path": path[-MAX_PATH:],
        "language": language,
    }
    if customer_id is not None:
        values["customer_id"] = customer_id
    if verification is not None:
        if verification not in VERIFICATIONS:
            raise ValueError(verification)
        values["verification"] = verification
    if verification_id is not None:
        values["verification_id"] = verification_id
    await session.execute(_STEP, values)


async def enqueue_call(
    session: AsyncSession,
    call_sid: str,
    queue: str,
    now: datetime,
    *,
    path: list[str],
    language: str,
) -> bool:
    """Put a call in the menu into a skill queue, with the path that led there (one
    statement); False when it was already queued (a retry)."""
    if queue not in QUEUES:
        raise ValidationFailed.field("queue", f"one of {', '.join(QUEUES)}")
    moved = await session.execute(
        _ENQUEUE,
        {
            "sid": call_sid,
            "status": "waiting",
            "queue": queue,
            "enqueued_at": now,
            "menu_path": path[-MAX_PATH:],
            "language": language,
        },
    )
    return bool(moved.rowcount)  # type: ignore[attr-defined]


async def answer_call(session: AsyncSession, call_sid: str, agent_id: str, now: datetime) -> Call:
    """An agent takes a waiting call: records who and when, and hands the caller's keypad
    verification to that agent (auth.claim_verification), so the agent may order for the
    caller without asking the PIN. A call answered by another agent, or ended, is 409; the
    same agent answering again gets the call as it is."""
    call = await get_call(session, call_sid)
    moved = await session.execute(
        update(Call)
        .where(Call.id == call.id, Call.status == "waiting")
        .values(status="answered", agent_id=agent_id, answered_at=now)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        await session.refresh(call)
        if call.status == "answered" and call.agent_id == agent_id:
            return call  # this agent's click again (a double click, a retried request)
        raise Conflict(f"the call is {call.status}, not waiting")
    if call.verification_id and call.verification == "verified":
        await auth.claim_verification(session, call.verification_id, agent_id, now)
    await session.refresh(call)
    return call


async def wrap_up_call(
    session: AsyncSession, call_sid: str, agent_id: str, code: str, now: datetime
) -> Call:
    """The answering agent's wrap-up code (once; the same code again changes nothing)."""
    code = (code or "").strip()
    if not code or len(code) > 40:
        raise ValidationFailed.field("code", "1 to 40 characters")
    call = await get_call(session, call_sid)
    if call.agent_id != agent_id:
        raise Conflict("only the agent who answered the call wraps it up")
    if call.wrap_up_code is not None:
        if call.wrap_up_code == code:
            return call
        raise Conflict("the call is wrapped up already")
    call.wrap_up_code = code
    call.wrapped_up_at = now
    await session.flush()
    return call


async def end_call(
    session: AsyncSession,
    call_sid: str,
    *,
    provider_status: str,
    duration_seconds: int | None,
    now: datetime,
    self_served: bool = False,
) -> str | None:
    """The provider says the call is over (completed, busy, no-answer, failed, canceled).
    The outcome follows from where the call was: one UPDATE that reads the old status (it runs
    on every call). Returns the outcome; None for an unknown call or one ended already (a
    repeated callback changes nothing)."""
    row = (
        await session.execute(
            _END,
            {
                "sid": call_sid,
                "menu_outcome": "self_service" if self_served else "hung_up_in_menu",
                "provider_status": provider_status[:20],
                "duration": duration_seconds,
                "now": now,
            },
        )
    ).first()
    if row is None:
        return None
    outcome, started_at = row
    if duration_seconds is None:  # the provider did not say: from our own record
        await session.execute(
            _STEP,
            {"sid": call_sid, "duration_seconds": max(0, int((now - started_at).total_seconds()))},
        )
    return str(outcome)


async def call_view(session: AsyncSession, call: Call) -> CallView:
    verification = (
        await auth.get_verification(session, call.verification_id) if call.verification_id else None
    )
    return CallView(call, verification)


async def active_call(
    session: AsyncSession, *, call_sid: str | None = None, phone: str | None = None
) -> CallView | None:
    """The console's screen pop: the live call (not ended) of this CallSid or calling number,
    the newest if several, with its verification; None when there is none."""
    q = select(Call).where(Call.status != "ended")
    if call_sid:
        q = q.where(Call.call_sid == call_sid)
    elif phone:
        q = q.where(Call.from_phone == phone)
    else:
        return None
    call = await session.scalar(q.order_by(Call.started_at.desc(), Call.id.desc()).limit(1))
    return await call_view(session, call) if call is not None else None


async def list_calls(
    session: AsyncSession,
    *,
    status: str | None = None,
    queue: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Call]:
    """Newest first, keyset-paginated."""
    if not 1 <= limit <= 200:
        raise ValidationFailed.field("limit", "1 to 200")
    q = select(Call)
    if status:
        if status not in STATUSES:
            raise ValidationFailed.field("status", f"one of {', '.join(STATUSES)}")
        q = q.where(Call.status == status)
    if queue:
        if queue not in QUEUES:
            raise ValidationFailed.field("queue", f"one of {', '.join(QUEUES)}")
        q = q.where(Call.queue == queue)
    q = keyset(q, Call.started_at, Call.id, cursor=cursor, limit=limit)
    return page_of(list(await session.scalars(q)), limit, lambda c: (c.started_at, c.id))


async def open_complaints(session: AsyncSession, customer_id: str, limit: int = 3) -> list[Ticket]:
    """What the IVR reads out under 4: the customer's tickets not yet resolved or closed,
    newest first."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer_id, Ticket.status.not_in(("resolved", "closed")))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
    )
    return list(rows)
