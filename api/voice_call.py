"""One webhook's view of an IVR call (api/voice_flow.py): who calls, the call's state, how
to answer (TwiML plans, api/voice_twiml.py), and how a step is written to the call's record:
on asyncpg's pool when the step writes nothing else (ticketing/calls_pg.py), else in the
step's session so the record commits with what it describes. Also the hand-off to a skill
queue, which every branch of the menu may end in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

import ticketing
from api.composition import Services
from api.voice_prompts import SAY_LANGUAGE, say
from api.voice_state import CallState
from api.voice_twiml import Plan
from core.drivers import DriverPool

GATHER_PATH = "/v1/voice/gather/{step}"
QUEUE_OF = {"1": "delivery", "2": "billing", "3": "delivery", "4": "general"}
QUEUED = "queue:"  # the path's last label once the call is handed to a skill queue


class LeftIvr(Exception):
    """The call was handed to `queue`: it has left the menu, and an IVR webhook for it
    (a retry, a replay, a forgery) changes nothing (api/controllers/voice.py answers it)."""

    def __init__(self, queue: str) -> None:
        super().__init__(queue)
        self.queue = queue


def queued_in(path: list[str]) -> str | None:
    """The skill queue a call's path handed it to, if any."""
    return next((p[len(QUEUED) :] for p in path if p.startswith(QUEUED)), None)


@dataclass
class Call:
    """One webhook's view of the call: who calls, its state, where to answer."""

    services: Services
    session: AsyncSession
    call_sid: str
    phone: str  # E.164 of the caller ("" when the provider sent no usable number)
    to: str
    state: CallState

    @property
    def lang(self) -> str:
        return self.state.language or "zh"

    def url(self, step: str) -> str:
        base = self.services.runtime.settings.public_base_url.rstrip("/")
        return base + GATHER_PATH.format(step=step)

    def say(self, r: Plan, key: str, **values: object) -> None:
        r.say(say(self.lang, key, **values), language=SAY_LANGUAGE[self.lang])

    def gather(self, r: Plan, step: str, *keys: str, digits: int = 1, **values: object) -> None:
        """Ask for keys; no key before the timeout falls through to a Redirect back to the
        same step, which hears it as silence."""
        g = r.gather(
            input="dtmf",
            num_digits=digits,
            finish_on_key="#",
            timeout=self.services.runtime.settings.voice_gather_timeout_seconds,
            action=self.url(step),
            method="POST",
        )
        for key in keys:
            if key == "choose_language":  # said in both languages, each in its own voice
                g.say(say("zh", key), language="zh-CN")
                g.say(say("en", key), language="en-US")
            else:
                g.say(say(self.lang, key, **values), language=SAY_LANGUAGE[self.lang])
        r.redirect(self.url(step))

    @property
    def driver_pool(self) -> DriverPool | None:
        """asyncpg's pool for a step that writes nothing but the call's record (PostgreSQL;
        ticketing/calls_pg.py says why); None once the step's session has begun, so the
        record commits with what else the step wrote."""
        if self.session.in_transaction():
            return None
        return self.services.runtime.drivers

    async def step(self, label: str, **changes: str | None) -> None:
        """Remember a step in the state and in the call's record (never a PIN's digits)."""
        self.state.path.append(label)
        pool = self.driver_pool
        if pool is not None and not changes:
            async with pool.connection() as conn:
                await ticketing.note_step_on(
                    conn, self.call_sid, path=self.state.path, language=self.lang
                )
            return
        await ticketing.note_step(
            self.session, self.call_sid, path=self.state.path, language=self.lang, **changes
        )


async def hand_off(c: Call, r: Plan, *, said: bool = False) -> Plan:
    """Enqueue the call to the skill queue of the last service chosen (billing for a payment,
    delivery for an order or e-ticket, general otherwise), with the path and the keypad
    verification on its record for the agent's screen pop."""
    queue = "general"
    for label in reversed(c.state.path):
        if label in QUEUE_OF:
            queue = QUEUE_OF[label]
            break
    c.state.path.append(QUEUED + queue)
    now, pool = c.services.runtime.clock.now(), c.driver_pool
    if pool is not None:
        async with pool.connection() as conn:
            await ticketing.enqueue_call_on(
                conn, c.call_sid, queue, now, path=c.state.path, language=c.lang
            )
    else:
        await ticketing.enqueue_call(
            c.session, c.call_sid, queue, now, path=c.state.path, language=c.lang
        )
    if not said:
        c.say(r, "to_agent")
    r.enqueue(queue)
    return r
